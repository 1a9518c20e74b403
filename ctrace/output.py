"""Turning events into lines: escaping, JSON, time, errno names, stdout.

Everything a container controls (paths, argv, comm, cgroup and host names) is
hostile. In table output no control byte or escape sequence reaches the
terminal raw; JSON is always valid (and ASCII).
"""

import errno
import json
import os
import select
import signal
import sys
import time

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


def _needs_escaping(text):
    return any(ord(ch) < 0x20 or 0x7f <= ord(ch) < 0xa0 or ch == "\\" or
               ord(ch) in _BIDI for ch in text)


def escape(data):
    """Bytes or str from the kernel -> printable, unambiguous text.

    Invalid UTF-8 becomes \\xNN; controls become \\xNN, \\n, \\t or \\uNNNN;
    a backslash is doubled so the escapes cannot be forged."""
    if isinstance(data, (bytes, bytearray)):
        data = bytes(data).decode("utf-8", "surrogateescape")
    if not _needs_escaping(data) and not _has_surrogates(data):
        return data
    out = []
    for ch in data:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:       # an undecodable byte
            out.append("\\x%02x" % (code - 0xDC00))
        else:
            out.append(_escape_char(ch))
    return "".join(out)


def _has_surrogates(text):
    return any(0xD800 <= ord(ch) <= 0xDFFF for ch in text)


def json_text(data):
    """Bytes from the kernel -> a str that json.dumps turns into valid JSON.
    Invalid UTF-8 bytes are kept visible as \\xNN text."""
    if isinstance(data, (bytes, bytearray)):
        return bytes(data).decode("utf-8", "backslashreplace")
    return data


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

    def __init__(self, json_mode, stream=None):
        self.json_mode = json_mode
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
        self.line(json.dumps(obj, ensure_ascii=True, separators=(",", ":")))

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
