"""Turning events into lines: escaping, JSON, time, errno names, stdout.

Everything a container controls (paths, argv, comm, cgroup and host names) is
hostile. In table output no control byte or escape sequence reaches the
terminal raw; JSON is always valid (and ASCII).
"""

import base64
import errno
import hashlib
import json
import os
import re
import select
import signal
import sys
import time
import unicodedata

# Characters that could move the cursor, change colours or reorder text when
# printed: C0 and C1 controls, DEL, and the Unicode bidi/format controls.
_BIDI = set(range(0x200B, 0x2010)) | set(range(0x202A, 0x202F)) | \
    set(range(0x2066, 0x206A)) | {0xFEFF, 0x2028, 0x2029}


def _escape_char(ch):
    code = ord(ch)
    if code < 0x20 or code == 0x7f or 0x80 <= code < 0xa0 or code in _BIDI:
        if ch == "\n":
            return "\\n"
        if ch == "\t":
            return "\\t"
        if code < 0x100:
            return "\\x%02x" % code
        return "\\u%04x" % code
    if ch == "\\":
        return "\\\\"
    return ch


# What escape() rewrites (controls, DEL, bidi, a backslash, surrogates:
# undecodable bytes) and what json_text() does (a backslash, surrogates):
# one regex search, where a test per character took most of a JSON event's
# escaping time.
_TO_ESCAPE = re.compile("[\x00-\x1f\x7f-\x9f\\\\\ud800-\udfff%s]"
                        % "".join(chr(c) for c in sorted(_BIDI)))
_TO_ESCAPE_JSON = re.compile("[\\\\\ud800-\udfff]")


class Memo(dict):
    """MAKE(key), kept by key: what a line is formatted from repeats in an
    event stream (a path, a set of flags, a column), and a dict lookup is
    cheaper than formatting it again.  At most LIMIT values are kept, and
    all are dropped when it is full: a stream that never repeats costs one
    MAKE an event, never unbounded memory.  Look up as memo[key]."""

    __slots__ = ("_make", "_limit")

    def __init__(self, make, limit=4096):
        super().__init__()
        self._make = make
        self._limit = limit

    def __missing__(self, key):
        value = self._make(key)
        if len(self) >= self._limit:
            self.clear()
        self[key] = value
        return value


# A JSON event line: ASCII, compact.  One encoder for every line (json.dumps
# with these arguments makes one per call: 0.6 us of a 6 us line).
_json_line = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode


def escape(data):
    """Bytes or str from the kernel -> printable, unambiguous text.

    Invalid UTF-8 becomes \\xNN; controls become \\xNN, \\n, \\t or \\uNNNN
    (a lone surrogate in a str too); a backslash is doubled so the escapes
    cannot be forged."""
    if isinstance(data, (bytes, bytearray)):
        data = bytes(data).decode("utf-8", "surrogateescape")
    if _TO_ESCAPE.search(data) is None:
        return data
    out = []
    for ch in data:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:       # an undecodable byte
            out.append("\\x%02x" % (code - 0xDC00))
        elif 0xD800 <= code <= 0xDFFF:     # a lone surrogate: not printable
            out.append("\\u%04x" % code)
        else:
            out.append(_escape_char(ch))
    return "".join(out)


def json_text(data):
    """Bytes (or str) from the kernel -> a str for a JSON string field,
    unambiguous for any bytes: a backslash is written as two, a byte that
    is not UTF-8 as \\xNN (and a lone surrogate in a str as \\uNNNN), as in
    the table.  Everything else, control characters included, stays as it
    is (json.dumps escapes those).  json_text_bytes() is the inverse."""
    if isinstance(data, (bytes, bytearray)):
        data = bytes(data).decode("utf-8", "surrogateescape")
    if _TO_ESCAPE_JSON.search(data) is None:
        return data
    out = []
    for ch in data:
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif 0xDC80 <= code <= 0xDCFF:
            out.append("\\x%02x" % (code - 0xDC00))
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\\u%04x" % code)
        else:
            out.append(ch)
    return "".join(out)


def json_text_bytes(text):
    """The inverse of json_text(): a JSON string field -> the bytes the
    kernel saw (for consumers, and the tests).  Raises ValueError on text
    json_text() cannot have produced."""
    out = bytearray()
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch != "\\":
            out += ch.encode("utf-8")
            i += 1
            continue
        kind = text[i + 1:i + 2]
        if kind == "\\":
            out += b"\\"
            i += 2
        elif kind == "x" and _is_hex(text[i + 2:i + 4], 2):
            out.append(int(text[i + 2:i + 4], 16))
            i += 4
        elif kind == "u" and _is_hex(text[i + 2:i + 6], 4):
            out += chr(int(text[i + 2:i + 6], 16)).encode("utf-8", "surrogatepass")
            i += 6
        else:
            raise ValueError("not a ctrace JSON string: lone backslash at %d" % i)
    return bytes(out)


def _is_hex(text, length):
    return len(text) == length and all(c in "0123456789abcdef" for c in text)


# fit(): a cut column ends in "~" and a few characters of a digest of the
# whole name (base32, lowercase: [a-z2-7]): 5 in a column of 16 or more, 4
# from 12, 3 below (a narrow column keeps more of the name).
FIT_MIN_WIDTH = 1 + 1 + 3
_CUT_SHAPES = {n: re.compile(r"~[a-z2-7]{%d}\Z" % n) for n in (3, 4, 5)}
_ESCAPE_UNIT = re.compile(r"\\(?:x[0-9a-f]{2}|u[0-9a-f]{4}|.)|.", re.S)


def char_columns(ch):
    """Terminal columns of one printable character: 2 for East Asian wide
    and fullwidth, 0 for a non-spacing or enclosing mark, else 1 (what
    wcwidth says, near enough for alignment; a spacing mark, Mc, takes a
    column even where it has a combining class, U+1BF2)."""
    if ch < "\u0300":
        return 1
    if unicodedata.category(ch) in ("Mn", "Me"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def columns(text):
    """Terminal columns of escaped (printable) TEXT."""
    return sum(char_columns(ch) for ch in text)


def digest_length(width):
    """How many digest characters fit() puts in a cut column of WIDTH."""
    return 5 if width >= 16 else 4 if width >= 12 else 3


def _digest(text, length):
    raw = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=5).digest()
    return base64.b32encode(raw).decode("ascii").lower()[:length]


def fit(data, width, pad=False):
    """A name (bytes or str from the kernel or a runtime) for a table column
    of WIDTH terminal columns: escaped as escape() does, and never wider.

    A name that fits is shown whole.  One that does not is cut on a whole
    escaped character (never inside a \\xNN, \\uNNNN or \\\\ escape) and
    ends in "~" and a digest of the whole name (BLAKE2b, base32 [a-z2-7];
    5 characters in a column of 16 or more, 4 from 12, 3 below):
    "a-very-lon~wxq3y".  So two names that differ anywhere, even after the
    cut, print differently, unless their digests collide: for two given
    names about 1 in 33 million at 5 characters (1 in 32768 at 3); the
    full name is in -w and JSON output.  Two more rules keep that true:
    a name that fits but itself ends like a cut one ("~" and as many of
    [a-z2-7]) is shown cut, with its own digest; and a trailing blank is
    shown as \\x20, so "web " and "web" stay apart when padded.

    PAD=True left-justifies the result to exactly WIDTH columns (use it
    instead of "%-16s": wide characters take two columns)."""
    if width < FIT_MIN_WIDTH:
        raise ValueError("fit() needs a width of at least %d" % FIT_MIN_WIDTH)
    text = escape(data)
    if text.endswith(" "):
        text = text[:-1] + "\\x20"
    digits = digest_length(width)
    if columns(text) > width or _CUT_SHAPES[digits].search(text):
        budget = width - 1 - digits
        head, used = [], 0
        for unit in _ESCAPE_UNIT.findall(text):
            cols = columns(unit)
            if used + cols > budget:
                break
            head.append(unit)
            used += cols
        text = "".join(head) + "~" + _digest(text, digits)
    if pad:
        text += " " * (width - columns(text))
    return text


def quote_arg(arg):
    """One argv element for a table line: escaped, and quoted when it holds
    blanks or quotes (or is empty) so arguments stay distinguishable."""
    text = escape(arg)
    if text == "" or any(c in text for c in " '\""):
        return "'" + text.replace("'", "'\\''") + "'"
    return text


def errno_name(value):
    """-2 or 2 -> 'ENOENT'; unknown -> 'E<n>'."""
    value = abs(value)
    return errno.errorcode.get(value, "E%d" % value)


def signal_name(num):
    try:
        return signal.Signals(num).name
    except ValueError:
        return "SIG%d" % num


class Clock:
    """Turns bpf_ktime_get_ns() (CLOCK_MONOTONIC) into wall-clock time."""

    def __init__(self):
        self.offset = time.time() - time.clock_gettime(time.CLOCK_MONOTONIC)

    def wall(self, ktime_ns):
        return self.offset + ktime_ns / 1e9

    def hms(self, ktime_ns):
        return time.strftime("%H:%M:%S", time.localtime(self.wall(ktime_ns)))


class Output:
    """stdout for one tool: table or JSON lines, written once per batch of
    events (not once per line), a quiet end when the reader goes away (`|
    head`), and no hang when it stops reading: once the tool is asked to
    stop, stdout no longer blocks and what cannot be written is counted
    (`unprinted`), never waited for."""

    CHUNK = 65536
    STALL_SECONDS = 1.0

    def __init__(self, json_mode, stream=None, node=None):
        self.json_mode = json_mode
        self.node = node                # added to every JSON object
        self.stream = stream or sys.stdout
        try:
            self.fd = self.stream.fileno()
        except (AttributeError, OSError, ValueError):
            self.fd = None              # a test's StringIO
        self.closed = False             # the reader has gone
        self.stalled = False            # stopping, and the reader is not reading
        self.unprinted = 0              # lines dropped because of that
        self._pending = []
        self._size = 0
        self._was_blocking = None
        self._progress = 0.0

    def line(self, text):
        if self.closed:
            return
        if self.stalled:
            self.unprinted += 1
            return
        self._pending.append(text)
        self._size += len(text) + 1
        if self._size >= self.CHUNK:
            self.flush()

    def json(self, obj):
        if self.node is not None:
            obj.setdefault("node", self.node)
        self.line(_json_line(obj))

    def flush(self):
        if self.closed or not self._pending:
            return
        lines, self._pending, self._size = self._pending, [], 0
        if self.fd is None:
            self.stream.write("\n".join(lines) + "\n")
            self.stream.flush()
            return
        if self.stream is sys.stdout:
            sys.stdout.flush()          # anything printed the ordinary way first
        data = memoryview(("\n".join(lines) + "\n").encode("utf-8", "replace"))
        try:
            while data:
                try:
                    data = data[os.write(self.fd, data):]
                    self._progress = time.monotonic()
                except BlockingIOError:
                    # Only after unblock(): the tool is stopping. A reader
                    # still reading gets everything; one that has not read
                    # for STALL_SECONDS gets nothing more.
                    left = self._progress + self.STALL_SECONDS - time.monotonic()
                    if left <= 0:
                        self.stalled = True
                        self.unprinted += bytes(data).count(b"\n")
                        return
                    select.select([], [self.fd], [], left)
        except BrokenPipeError:
            self._reader_gone()

    def unblock(self):
        """The tool is stopping: stdout writes fail at once instead of
        waiting for a reader that may never read again. (Called from a
        signal handler: a write blocked now returns and is not retried.)"""
        if self.fd is None or self._was_blocking is not None:
            return
        self._progress = time.monotonic()
        try:
            self._was_blocking = os.get_blocking(self.fd)
            os.set_blocking(self.fd, False)
        except OSError:
            pass

    def restore(self):
        """Give stdout back as it was (it may be a terminal shared with the
        shell)."""
        if self._was_blocking:
            try:
                os.set_blocking(self.fd, True)
            except OSError:
                pass
        self._was_blocking = None

    def _reader_gone(self):
        # Point stdout at /dev/null so the interpreter's final flush does not
        # raise again; the tool notices .closed and stops.
        self.closed = True
        self._pending = []
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.fd)
        except (OSError, ValueError):
            pass
