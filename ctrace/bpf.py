"""Loading a ctrace BPF program through BCC, and running a tool around it.

One path for every tool: check the machine (root, BTF, tracefs, headers,
tracepoints) with one-line errors that name the fix; compose the C from
bpf_c/ with the kernel's struct offsets and the tool's filters as #defines;
load and attach it; poll its ring buffers; count lost events; and detach
cleanly on SIGINT, SIGTERM, -d expiry or a closed stdout.
"""

import contextlib
import ctypes
import mmap
import os
import re
import select
import signal
import struct
import sys
import tempfile
import time

from ctrace import bcc_compile, btfcache, libc, preload
from ctrace.errors import SetupError
from ctrace.ringbuf import RINGS_READ_HERE, RingReader
from ctrace.threads import Beside

FIX = "run 'make install' in the ctrace source tree"

# io_uring's requests (bpf_c/ct_uring.h): hooked where the kernel has them
# (CONFIG_IO_URING), which the C sees as CT_URING.
URING_TRACEPOINTS = ["io_uring:io_uring_submit_req", "io_uring:io_uring_complete"]
# CTRACE_TIMINGS=1: one line on stderr at "tracing" with the start-up's
# phases (bench/run.py reads it); the clock is CLOCK_MONOTONIC, the launcher's.
TIMINGS = os.environ.get("CTRACE_TIMINGS") == "1"
IMPORTED_AT = time.monotonic()


def bpf_source_dir():
    """$CTRACE_BPF_DIR if set (and only it), else bpf_c/ beside the package
    in a source tree, else where setup.py put it."""
    here = os.path.dirname(os.path.abspath(__file__))
    if os.environ.get("CTRACE_BPF_DIR"):
        candidates = [os.environ["CTRACE_BPF_DIR"]]
    else:
        candidates = [os.path.join(os.path.dirname(here), "bpf_c"),
                      os.path.join(sys.prefix, "share", "ctrace", "bpf_c"),
                      "/usr/local/share/ctrace/bpf_c", "/usr/share/ctrace/bpf_c"]
    for path in candidates:
        if os.access(os.path.join(path, "ctrace.h"), os.R_OK):
            return path
    where = " in CTRACE_BPF_DIR (%r)" % candidates[0] if os.environ.get("CTRACE_BPF_DIR") else ""
    raise SetupError("ctrace BPF sources (bpf_c/) not found%s: %s" % (where, FIX))


def check_root():
    if os.geteuid() != 0:
        raise SetupError("must be run as root (it loads BPF programs); "
                         "other users: sudo %s" % os.path.basename(sys.argv[0]))


def tracefs_root():
    """The tracefs mount BCC needs; mounted here if the machine has not."""
    for path in ("/sys/kernel/tracing", "/sys/kernel/debug/tracing"):
        if os.path.exists(os.path.join(path, "events")):
            return path
    try:
        if os.path.isdir("/sys/kernel/tracing"):
            _mount("tracefs", "/sys/kernel/tracing", "tracefs")
        if not os.path.exists("/sys/kernel/debug/tracing"):
            _mount("debugfs", "/sys/kernel/debug", "debugfs")
    except OSError:
        pass
    for path in ("/sys/kernel/tracing", "/sys/kernel/debug/tracing"):
        if os.path.exists(os.path.join(path, "events")):
            return path
    raise SetupError("tracefs is not mounted and could not be mounted: "
                     "mount -t tracefs tracefs /sys/kernel/tracing")


def _mount(source, target, fstype):
    libc.check(libc.mount(source.encode(), target.encode(), fstype.encode(), 0, None),
               "mount %s" % target)


def check_tracepoints(names):
    root = tracefs_root()
    for name in names:
        category, event = name.split(":")
        if not os.path.exists(os.path.join(root, "events", category, event)):
            raise SetupError("tracepoint %s is not available in this kernel "
                             "(needs CONFIG_FTRACE_SYSCALLS / tracepoints)" % name)


def uring_tracepoints():
    """URING_TRACEPOINTS if this kernel has them, else none."""
    try:
        root = tracefs_root()
    except SetupError:
        return []
    if all(os.path.exists(os.path.join(root, "events", *name.split(":")))
           for name in URING_TRACEPOINTS):
        return list(URING_TRACEPOINTS)
    return []


def kernel_tree():
    """The kernel tree BCC compiles against (its BCC_KERNEL_SOURCE): one the
    user named, or with CTRACE_KERNEL_HEADERS=system the installed headers
    (/lib/modules/RELEASE/build), else ctrace's own, bpf_c/kbuild: the few
    declarations BCC's helpers take from a kernel's headers (its
    linux/kconfig.h says why).  Returns (path, whether BCC is to be told)."""
    named = os.environ.get("BCC_KERNEL_SOURCE")
    if named:
        return named, False
    if os.environ.get("CTRACE_KERNEL_HEADERS") == "system":
        return "/lib/modules/%s/build" % os.uname().release, False
    return os.path.join(bpf_source_dir(), "kbuild"), True


def check_headers():
    """SetupError if the kernel tree BCC is to compile against is missing;
    else the BCC_KERNEL_SOURCE to set while it compiles (None: BCC's own
    choice, or the user's, stands)."""
    tree, tell = kernel_tree()
    if not os.path.exists(os.path.join(tree, "include")):
        raise SetupError("kernel headers not found at %s (BCC compiles against "
                         "them): %s" % (tree, FIX))
    return tree if tell else None


@contextlib.contextmanager
def _environ(name, value):
    """NAME=VALUE in the environment inside `with` (VALUE None: as it is)."""
    if value is None:
        yield
        return
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def import_bcc():
    try:
        import bcc
        return bcc
    except ImportError:
        raise SetupError("BCC's Python module is missing for %s: %s (Debian "
                         "package python3-bpfcc; run the tool with /usr/bin/python3)"
                         % (sys.executable, FIX))


class Program:
    """The C text of one tool: bpf_c/<tool>.bpf.c with its includes inlined
    and every macro it needs defined at the top, exactly what --ebpf prints
    and what BCC loads."""

    def __init__(self, source, defines=None, host_ns=None):
        self.source = source
        self.defines = dict(defines or {})
        self.host_ns = host_ns
        # What the headers' programs in this text need (CT_NEEDS_TRACEPOINT),
        # and where programs are attached besides their own tracepoints
        # (CT_ALSO_AT: [(program, "category:event")]), known once text() has
        # composed it.
        self.needed_tracepoints = []
        self.also_attached = []

    @staticmethod
    def kernel_macros(source, program=None):
        """NAME -> offset, size or count, for the CT_BTF_OFFSET /
        CT_BTF_SIZE / CT_BTF_TP_ARGS declarations in SOURCE
        (bpf_c/ct_context.h says why); those of PROGRAM (its file name)
        kept for its next start in this boot (ctrace.btfcache)."""
        declarations = [[kind, name, [f.strip() for f in fields.split(",")]]
                        for kind, name, fields in BTF_DECLARATION.findall(source)]
        macros = btfcache.load(program, declarations) if program else None
        if macros is not None:
            preload.drop_btf()
            return macros
        macros = Program._macros_from_btf(declarations)
        if program:
            btfcache.store(program, declarations, macros)
        return macros

    @staticmethod
    def _macros_from_btf(declarations):
        btf = preload.kernel_btf()
        try:
            macros = {}
            for kind, name, fields in declarations:
                if kind == "SIZE":
                    macros[name] = btf.sizeof(fields[0])
                    continue
                if kind == "TP_ARGS":
                    macros[name] = btf.tracepoint_args(fields[0])
                    continue
                if kind == "OFFSET_IF" and not btf.has_field(fields[0]):
                    continue
                for i, path in enumerate(fields):
                    if i == len(fields) - 1 or btf.has_field(path):
                        macros[name] = btf.offsetof(path)
                        break
            return macros
        finally:
            btf.close()

    def text(self):
        source = _inline_includes(bpf_source_dir(), self.source, set())
        macros = self.kernel_macros(source, self.source)
        if self.host_ns:
            for kind, inum in self.host_ns.items():     # CT_HOST_NS_MNT, ...
                if kind != "pid_level":
                    macros["CT_HOST_NS_" + kind.upper()] = "%du" % inum
            macros["CT_HOST_PID_LEVEL"] = self.host_ns.get("pid_level", 0)
        macros["CT_URING"] = int(bool(uring_tracepoints()))
        macros["CT_PAGE_SIZE"] = mmap.PAGESIZE      # bpf_c/kbuild's PAGE_SIZE
        macros.update(self.defines)
        self.needed_tracepoints = declared_tracepoints(source, macros)
        self.also_attached = declared_also_at(source, macros)
        lines = ["/* generated by ctrace for kernel %s: struct offsets from BTF */"
                 % os.uname().release]
        lines += ["#define %s %s" % (k, v) for k, v in macros.items()]
        lines.append(source)
        return "\n".join(lines) + "\n"


BTF_DECLARATION = re.compile(
    r"^CT_BTF_(OFFSET|OFFSET_IF|SIZE|TP_ARGS)\((\w+),\s*([\w.,\s]+)\)\s*$", re.M)
TRACEPOINT_DECLARATION = re.compile(
    r"^CT_NEEDS_TRACEPOINT\(\s*(\w+)\s*,\s*(\w+)\s*,\s*(\w+)\s*\)\s*$", re.M)
ALSO_AT_DECLARATION = re.compile(
    r"^CT_ALSO_AT\(\s*(\w+)\s*,\s*(\w+)\s*,\s*(\w+)\s*,\s*(\w+)\s*\)\s*$", re.M)


def _in_effect(declaration, condition, macros):
    """Is CONDITION (of a DECLARATION in the C) 1, or a macro of MACROS that
    is not 0 (an undefined macro is 0 to #if too)?"""
    value = condition if condition == "1" else macros.get(condition, 0)
    try:
        return int(str(value).rstrip("uU"), 0) != 0
    except ValueError:
        raise SetupError("internal error: %s condition %s is %r, not a number"
                         % (declaration, condition, value))


def declared_tracepoints(source, macros):
    """"category:event" of each CT_NEEDS_TRACEPOINT(CONDITION, category,
    event) in SOURCE in effect under MACROS (_in_effect): the tracepoints of
    the headers' programs compiled under #if CONDITION."""
    needed = []
    for condition, category, event in TRACEPOINT_DECLARATION.findall(source):
        if (_in_effect("CT_NEEDS_TRACEPOINT", condition, macros)
                and "%s:%s" % (category, event) not in needed):
            needed.append("%s:%s" % (category, event))
    return needed


def declared_also_at(source, macros):
    """(program, "category:event") of each CT_ALSO_AT(CONDITION, program,
    category, event) in SOURCE in effect under MACROS: where PROGRAM is
    attached besides its own tracepoint."""
    return [(program, "%s:%s" % (category, event))
            for condition, program, category, event in ALSO_AT_DECLARATION.findall(source)
            if _in_effect("CT_ALSO_AT", condition, macros)]


def attach_point(program, tp):
    """Where PROGRAM is attached at tracepoint TP ("category:event"), as
    BCC names it: TP, or for a raw program its event."""
    return tp.split(":")[1] if program.startswith("raw_tracepoint__") else tp


def compiled_programs(bpf):
    """The names of the programs BCC compiled from the text (and attached
    by their names: tracepoint__CATEGORY__EVENT, raw_tracepoint__EVENT), and
    where they are attached: "category:event" or, raw, "event"."""
    from bcc import lib
    names = [lib.bpf_function_name(bpf.module, i).decode()
             for i in range(lib.bpf_num_functions(bpf.module))]
    attached = {tp.decode() for tp in bpf.tracepoint_fds}
    attached |= {tp.decode() for tp in bpf.raw_tracepoint_fds}
    return names, attached


def check_attached(programs, attached, tracepoints, declared, also=()):
    """Every one of PROGRAMS (compiled_programs) is ATTACHED, at one of
    TRACEPOINTS (those checked before loading), each of DECLARED (the
    headers' CT_NEEDS_TRACEPOINT in effect) has its program, and each of
    ALSO (Program.also_attached) is a program attached there too: else the
    text and what was checked disagree, an error of ctrace's own."""
    for program, tp in also:
        if program not in programs or attach_point(program, tp) not in attached \
                or tp not in tracepoints:
            raise SetupError("internal error: BPF program %s is not attached to %s as "
                             "CT_ALSO_AT declares" % (program, tp))
    by_event = {tp.split(":")[1]: tp for tp in tracepoints}
    unmet = set(declared)
    for name in programs:
        if name.startswith("tracepoint__"):
            where = name[len("tracepoint__"):].replace("__", ":")
            tp = where if where in tracepoints else None
        elif name.startswith("raw_tracepoint__"):
            where = name[len("raw_tracepoint__"):]
            tp = by_event.get(where)
        else:
            continue
        if tp is None or where not in attached:
            raise SetupError("internal error: BPF program %s is not attached to a "
                             "tracepoint checked before loading" % name)
        unmet.discard(tp)
    if unmet:
        raise SetupError("internal error: no BPF program for the declared tracepoint %s"
                         % ", ".join(sorted(unmet)))


def _inline_includes(directory, name, seen):
    if name in seen:
        return ""
    seen.add(name)
    try:
        with open(os.path.join(directory, name)) as f:
            src = f.read()
    except OSError as exc:
        raise SetupError("ctrace BPF source %s unreadable (%s): %s"
                         % (name, exc.strerror or exc, FIX))

    def repl(m):
        if os.path.exists(os.path.join(directory, m.group(1))):
            return _inline_includes(directory, m.group(1), seen)
        return m.group(0)
    return re.sub(r'^#include "([^"]+)"\s*$', repl, src, flags=re.M)


_UNSIGNED = (ctypes.c_ubyte, ctypes.c_ushort, ctypes.c_uint, ctypes.c_ulong, ctypes.c_ulonglong)


def _struct_code(ctype):
    """struct module code for a ctypes scalar, by its real size ("<L" would be
    4 bytes where a C long is 8)."""
    if ctype is ctypes.c_char:
        return "c"
    code = {1: "b", 2: "h", 4: "i", 8: "q"}[ctypes.sizeof(ctype)]
    return code.upper() if ctype in _UNSIGNED else code


def event_unpacker(table, fields, data_field):
    """A struct.Struct that unpacks FIELDS (in struct order) of TABLE's event
    in one call, for per-event fast paths, and the offset of DATA_FIELD (a
    variable-length tail). Derived from BCC's decoding of the C struct, so it
    cannot drift from the header. Arrays unpack as bytes."""
    from bcc.table import _get_event_class   # BCC's own C struct -> ctypes
    cls = _get_event_class(table)
    return _fields_struct(cls, fields, "<"), getattr(cls, data_field).offset


class FixedRecords:
    """The handler of a ring buffer TABLE whose events are all of one size
    (a struct without a variable tail): HANDLER(fields) gets each event's
    FIELDS (in struct order) unpacked, after the record's length word
    (fields[0]), a batch of records at a time (RingWalk.consume_fixed).
    Derived from BCC's decoding of the C struct, as event_unpacker()."""

    def __init__(self, table, fields, handler):
        from bcc.table import _get_event_class
        cls = _get_event_class(table)
        self.length = ctypes.sizeof(cls)
        stride = (self.length + 8 + 7) & ~7         # a record: header, event, padding
        with_header = _fields_struct(cls, fields, "<I4x")
        self.record = struct.Struct("%s%dx" % (with_header.format,
                                               stride - with_header.size))
        self._event = _fields_struct(cls, fields, "<")
        self.handler = handler

    def __call__(self, data, size):
        """The event at DATA (BCC's reader, where ctrace.ringbuf is not used)."""
        self.handler((size,) + self._event.unpack(ctypes.string_at(data, self._event.size)))


class RecordsInPlace:
    """The handler of a ring buffer whose events have a variable tail, for a
    per-event fast path: HANDLER(buffer, offset, size) reads each event at
    OFFSET of BUFFER (unpack_from, slices), in place in the ring's mapping
    (RingWalk.consume's IN_PLACE), or from a copy where BCC reads the ring."""

    def __init__(self, handler):
        self.handler = handler

    def __call__(self, data, size):
        """The event at DATA (BCC's reader, where ctrace.ringbuf is not used)."""
        self.handler(ctypes.string_at(data, size), 0, size)


def _fields_struct(cls, fields, fmt):
    """A struct.Struct: FMT, then FIELDS of ctypes struct CLS from its start."""
    fmt, pos = [fmt], 0
    for name in fields:
        desc = getattr(cls, name)
        ctype = dict(cls._fields_)[name]
        if desc.offset < pos:
            raise SetupError("internal error: event fields out of struct order at %s" % name)
        if desc.offset > pos:
            fmt.append("%dx" % (desc.offset - pos))
        if issubclass(ctype, ctypes.Array):
            fmt.append("%ds" % ctypes.sizeof(ctype))
        else:
            fmt.append(_struct_code(ctype))
        pos = desc.offset + desc.size
    return struct.Struct("".join(fmt))


def header_constants(header, prefix):
    """The integer #defines PREFIX* of bpf_c/HEADER and the headers it
    includes, as attributes named without the prefix: constants the C and
    Python share are declared once, in the C header. A value may name
    another constant of those headers or of ctrace.h.

    Read at the first attribute asked for, not at import: a missing bpf_c/
    is then the one-line SetupError of bpf_source_dir(), raised where the
    tool handles it."""
    return _HeaderConstants(header, prefix)


class _HeaderConstants:
    def __init__(self, header, prefix):
        self._header = header
        self._prefix = prefix

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        # Kept as plain attributes: later reads do not come here.
        self.__dict__.update(_read_constants(self._header, self._prefix))
        if name not in self.__dict__:
            raise AttributeError("%s has no #define %s%s" % (self._header, self._prefix, name))
        return self.__dict__[name]


def _read_constants(header, prefix):
    directory, seen = bpf_source_dir(), set()
    source = _inline_includes(directory, "ctrace.h", seen)
    source += _inline_includes(directory, header, seen)
    defines = {}
    for m in re.finditer(r"^#define[ \t]+(\w+)[ \t]+(\S+)", source, re.M):
        defines[m.group(1)] = m.group(2)

    def value(text, depth=0):
        text = text.strip("()")
        if text in defines and depth < 8:
            return value(defines[text], depth + 1)
        return int(text.rstrip("uU"), 0)
    values = {}
    for name, text in defines.items():
        if name.startswith(prefix):
            try:
                values[name[len(prefix):]] = value(text)
            except ValueError:
                continue                # not an integer constant
    return values


def c_string(text):
    """A C string literal for a #define (input already validated)."""
    return '"%s"' % text.replace("\\", "\\\\").replace('"', '\\"')


def _one_line_setup_error(kind, exc, tb, previous=sys.excepthook):
    """A SetupError nothing caught (a tool reading header_constants while it
    is imported, before run() handles errors) is its one line, not a
    traceback; Python then exits 1, as run() would."""
    if issubclass(kind, SetupError):
        sys.stderr.write("%s: %s\n" % (os.path.basename(sys.argv[0]), exc))
    else:
        previous(kind, exc, tb)


sys.excepthook = _one_line_setup_error


def _drain(fd):
    """Empty the non-blocking pipe FD (wakeups, not data)."""
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


class _Signals:
    """SIGINT/SIGTERM/SIGHUP: the first asks the loop to end (a flag, not an
    exception: a signal may arrive while BCC is inside a Python callback,
    where an exception would only be printed and swallowed) and unblocks a
    stalled stdout; a second one ends the tool at once."""

    def __init__(self, on_first, on_second):
        self.set = False
        self.on_first = on_first
        self.on_second = on_second
        # Wakes the loop's wait when a signal arrives (there may be no ring
        # buffer to poll).
        self.wakeup_r, self.wakeup_w = os.pipe()
        for fd in (self.wakeup_r, self.wakeup_w):
            os.set_blocking(fd, False)
        signal.set_wakeup_fd(self.wakeup_w, warn_on_full_buffer=False)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self)

    def __call__(self, signum, frame):
        if self.set:
            self.on_second()
        self.set = True
        self.on_first()

    def wait(self, seconds):
        select.select([self.wakeup_r], [], [], max(0.0, seconds))
        _drain(self.wakeup_r)

    def restore(self):
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        signal.set_wakeup_fd(-1)


# A busy tool's ring buffer (CT_RING_PAGES, CT_RING_WAKE_BYTES): small
# enough to stay in the caches (every event is written into the next bytes
# of the ring, and a ring larger than the caches makes each of those a miss:
# measured, a 16 MiB ring cost 100-200 ns more per event than a 1 MiB one),
# large enough for a storm from every CPU between two reads.
RING_PAGES_PER_CPU = 128
RING_PAGES_LEAST = 256                # 1 MiB
RING_PAGES_MOST = 4096                # 16 MiB


def ring_buffer_defines(cpus=None):
    """CT_RING_PAGES: RING_PAGES_PER_CPU pages a CPU (a power of two, within
    RING_PAGES_LEAST and RING_PAGES_MOST); CT_RING_WAKE_BYTES: a CPU wakes
    the reader once it has written that much since its last wakeup, so that
    all CPUs together wake it before half the ring is full (between wakeups
    the reader reads every POLL_SECONDS).  Wakeups are not free: one every
    1,024 events cost the open loop 30 ns an event."""
    cpus = cpus or os.cpu_count() or 1
    pages = RING_PAGES_LEAST
    while pages < RING_PAGES_PER_CPU * cpus and pages < RING_PAGES_MOST:
        pages *= 2
    return {"CT_RING_PAGES": pages,
            "CT_RING_WAKE_BYTES": pages * mmap.PAGESIZE // 2 // cpus}


# A read of a ring buffer gives control back to the loop after this many
# events, so that a storm that never lets it empty cannot hold off Ctrl-C,
# -d or the lost-event report; the final drain takes everything.  (BCC's
# reader, where ours is not used: libbpf stops at a callback's error, after
# that already consumed sample.)
BATCH = 4096
# The longest the loop sleeps before reading the ring buffers: busy tools'
# programs wake the reader only once a CPU has written much (ct_ring_wake),
# the rest is read on this timer.
POLL_SECONDS = 0.05
# Once its rings have been empty this long, the reader sleeps until an event
# wakes it (the programs' ct_reader_idle map, ct_context.h), a signal, the
# Registry's news or periodic work, for at most IDLE_POLL_SECONDS: an idle
# tool does not wake every POLL_SECONDS (here each wake cost 0.1-0.2 ms of
# CPU, 20 a second).  The tests lengthen the second
# (CTRACE_IDLE_POLL_SECONDS), so that a missed wakeup shows.
IDLE_AFTER_SECONDS = 0.25
try:
    IDLE_POLL_SECONDS = max(0.05, float(os.environ.get("CTRACE_IDLE_POLL_SECONDS", "1")))
except ValueError:
    IDLE_POLL_SECONDS = 1.0


class Runner:
    """Runs one tool's program: load, attach, poll its ring buffers and run
    its periodic work, account for lost events, stop."""

    def __init__(self, tool, program, tracepoints, output):
        self.tool = tool
        self.program = program
        self.tracepoints = tracepoints
        self.output = output
        self.bpf = None
        self.lost_reported = 0
        self.lost_why = "ring buffer full"    # what the kernel counts as lost
        self.draining = False         # the loop has ended: take everything
        self._signals = None
        self._rings = []              # (RingReader, handler)
        self._epoll = None
        self._libbpf_rings = 0        # rings BCC reads (not x86: ctrace.ringbuf)
        self._batch = 0
        self._wakeup_fd = None        # _Signals' pipe, in the epoll while the loop runs
        # Run before each poll: what other threads queued for this one
        # (the Registry's news from the runtimes' watchers).
        self.each_wake = []
        # (seconds, function): the frame's periodic work, beside the tool's
        # own (loop()'s EVERY).
        self.periodic = []
        self.timings = None           # _Timings under CTRACE_TIMINGS=1

    def load(self, meanwhile=None):
        """Compile, load and attach the program.  BCC compiles on a thread
        of its own (ctrace.bcc_compile), holding no GIL; MEANWHILE() runs
        here in the meantime."""
        timings = self.timings = _Timings() if TIMINGS else None
        check_root()
        bcc = import_bcc()
        timings and timings.mark("bcc")
        text = self.program.text()
        also = self.program.also_attached
        tracepoints = list(self.tracepoints)
        tracepoints += [tp for tp in self.program.needed_tracepoints + [tp for _, tp in also]
                        if tp not in tracepoints]
        check_tracepoints(tracepoints)
        kernel_source = check_headers()
        timings and timings.mark("text")
        if meanwhile and timings:
            meanwhile = timings.timed("meanwhile_s", meanwhile)     # beside the compile
        bpf_class = _bpf_class(bcc, timings, also)
        # Compiler diagnostics go to a pipe of ours, not the terminal: a
        # failed load is one line here (--ebpf shows the C).
        with _quiet_stderr(self.tool), _environ("BCC_KERNEL_SOURCE", kernel_source):
            compiling = bcc_compile.compile_beside(
                lambda cflags: bpf_class(text=text, cflags=cflags), text)
            try:
                if meanwhile:
                    meanwhile()
            finally:
                compiling.join()
            try:
                self.bpf = compiling.result()
            except Exception as exc:
                reason = str(exc).splitlines()[0] if str(exc) else repr(exc)
                # ctrace's kernel tree holds what this BCC's helpers were
                # seen to need; another BCC's may need more.
                hint = ("CTRACE_KERNEL_HEADERS=system compiles against the installed "
                        "kernel headers" if kernel_source and "compile" in reason else None)
                raise SetupError(load_failed(reason, hint))
        # BCC's Python keeps one kernel symbol cache per process: none may
        # have been made from the compile thread's one-line /proc/kallsyms.
        getattr(bcc.BPF, "_sym_caches", {}).pop(-1, None)
        timings and timings.mark("loaded")
        check_attached(*compiled_programs(self.bpf), tracepoints,
                       self.program.needed_tracepoints, also)
        return self.bpf

    def on_events(self, table, handler):
        """Call HANDLER(data, size) for each event of ring buffer TABLE (a
        FixedRecords: its handler with each event's fields; RecordsInPlace:
        its handler with a buffer and the event's offset in it)."""
        ring = self.bpf[table]
        if not RINGS_READ_HERE:
            self._open_with_libbpf(ring, handler)
            return
        if self._epoll is None:
            self._epoll = select.epoll()
        self._rings.append((RingReader(ring.map_fd, ring.max_entries), handler))
        self._epoll.register(ring.map_fd, select.EPOLLIN)

    def _open_with_libbpf(self, ring, handler):
        """BCC's reader (libbpf's, a callback per event), where ctrace.ringbuf
        does not read rings itself."""
        output = self.output

        def callback(cpu, data, size):
            if output.stalled:
                output.unprinted += 1       # stdout blocked after Ctrl-C
            else:
                handler(data, size)
            self._batch += 1
            if self._batch >= BATCH and not self.draining:
                self._batch = 0
                return -1
            return 0
        ring.open_ring_buffer(callback)
        self._libbpf_rings += 1

    def _count_unprinted(self, *_record):
        """Either walk's handler while stdout is blocked after Ctrl-C."""
        self.output.unprinted += 1

    def _read(self, timeout, limit=BATCH):
        """Wait up to TIMEOUT seconds for events, then read up to LIMIT of
        each ring buffer (None: all): how many were read (None: BCC's reader,
        which does not say)."""
        if self._libbpf_rings:
            if timeout > 0:
                self.bpf.ring_buffer_poll(max(1, int(timeout * 1000)))
            self.bpf.ring_buffer_consume()
            return None
        if timeout > 0:
            for fd, _ in self._epoll.poll(timeout):
                if fd == self._wakeup_fd:
                    _drain(fd)
        read = 0
        for ring, handler in self._rings:
            if isinstance(handler, FixedRecords):
                read += ring.consume_fixed(handler.record, handler.length,
                                           self._count_unprinted if self.output.stalled
                                           else handler.handler, limit)
            elif self.output.stalled:
                read += ring.consume(self._count_unprinted, limit)
            elif isinstance(handler, RecordsInPlace):
                read += ring.consume(handler.handler, limit, in_place=True)
            else:
                read += ring.consume(handler, limit)
        return read

    def _idle_flag(self):
        """The programs' ct_reader_idle map, when the reader may sleep while
        idle: its rings are read here (not by BCC) and every program that
        writes them wakes a sleeping reader (ct_context.h); else None."""
        if not self._rings or self._libbpf_rings:
            return None
        try:
            return self.bpf["ct_reader_idle"]
        except KeyError:
            return None

    def _read_idle(self, flag, timeout):
        """Sleep until an event, a signal, the Registry's news or TIMEOUT
        seconds, then read: _read()'s answer.  FLAG (ct_reader_idle) is set
        first, so that the next event wakes the reader, and the rings read
        once more after it, for what came before the programs saw it."""
        flag[ctypes.c_int(0)] = ctypes.c_uint32(1)
        read = self._read(0)
        if not read:
            read = self._read(timeout)
        flag[ctypes.c_int(0)] = ctypes.c_uint32(0)      # awake: back to batches
        return read

    def wake_up(self):
        """Thread-safe: end the loop's wait now (the Registry's news, which
        -c's followers apply to the kernel's filters)."""
        signals = self._signals
        if signals is not None and self._wakeup_fd is not None:
            try:
                os.write(signals.wakeup_w, b"\0")
            except OSError:
                pass                # full: the loop is being woken anyway

    def lost(self):
        """Events the ring buffers could not take so far (all CPUs)."""
        return sum(self.bpf["ct_lost"][ctypes.c_int(0)])

    def ready(self, what):
        # Handle SIGINT/SIGTERM from here on: whoever waits for this line may
        # signal at once, before loop() runs.
        self._install_signals()
        if self.timings:
            self.timings.mark("ready")
            sys.stderr.write("%s: timings %s\n" % (self.tool, self.timings.line()))
        sys.stderr.write("%s: tracing %s. Ctrl-C to end.\n" % (self.tool, what))
        sys.stderr.flush()
        # After the line, not before it: tracing needs none of it, and it
        # took 7-12 ms of containerescape's start (bench/NOTES.md).
        started = time.monotonic()
        trimmed = _release_compiler_memory(measure=self.timings is not None)
        if self.timings and trimmed:
            trimmed["trim_s"] = round(time.monotonic() - started, 4)
            sys.stderr.write("%s: timings-trim %s\n" % (self.tool, " ".join(
                "%s=%s" % kv for kv in sorted(trimmed.items()))))
            sys.stderr.flush()

    def stop(self):
        """End loop() as SIGINT would (for a tool that decides to end itself)."""
        self._install_signals().set = True

    @property
    def stopping(self):
        return self._signals is not None and self._signals.set

    def _install_signals(self):
        if self._signals is None:
            self._signals = _Signals(self.output.unblock, self._exit_now)
        return self._signals

    def _exit_now(self):
        """A second Ctrl-C/SIGTERM: the tool ends now, its final report
        unprinted; the kernel detaches everything as the process exits."""
        self.output.unblock()
        self.output.restore()
        os.write(2, ("%s: stopped at once (second signal)\n" % self.tool).encode())
        os._exit(1)

    def loop(self, output, duration=None, every=(), on_lost=None):
        """Poll the ring buffers and run EVERY's (seconds, function) periodic
        work until SIGINT/SIGTERM, DURATION seconds or a closed stdout; then
        detach the programs and drain what they had sent."""
        signals = self._install_signals()
        start = last_read = time.monotonic()
        deadline = start + duration if duration else None
        work = [[start + seconds, seconds, fn] for seconds, fn in list(every) + self.periodic]
        idle_flag = self._idle_flag()
        if idle_flag is not None:
            # A signal or wake_up() ends a sleep at once.
            self._wakeup_fd = signals.wakeup_r
            self._epoll.register(self._wakeup_fd, select.EPOLLIN)
        try:
            while not output.closed and not signals.set:
                for fn in self.each_wake:
                    fn()
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    break
                idle = idle_flag is not None and now - last_read >= IDLE_AFTER_SECONDS
                wake = min([now + (IDLE_POLL_SECONDS if idle else POLL_SECONDS)] +
                           [w[0] for w in work] + ([deadline] if deadline is not None else []))
                wait = max(0.001, wake - now)
                if idle:
                    read = self._read_idle(idle_flag, wait)
                elif self._rings or self._libbpf_rings:
                    read = self._read(wait)
                else:
                    read = signals.wait(wait)
                now = time.monotonic()
                if read:
                    last_read = now
                for w in work:
                    if now >= w[0] and not signals.set:
                        w[2]()
                        w[0] = max(w[0] + w[1], now)    # late: no catching up
                self._check_lost(on_lost)
                output.flush()
        except KeyboardInterrupt:
            pass
        self.finish(on_lost)

    def finish(self, on_lost=None):
        """Detach every program, then read what they sent before: after
        this, printed + not printed + lost is every event captured."""
        self.draining = True
        for tp in list(self.bpf.tracepoint_fds):
            self.bpf.detach_tracepoint(tp)
        for tp in list(self.bpf.raw_tracepoint_fds):
            self.bpf.detach_raw_tracepoint(tp)
        self._read(0, limit=None)
        self._check_lost(on_lost)
        self.output.flush()

    def _check_lost(self, on_lost):
        lost = self.lost()
        if lost != self.lost_reported:
            if on_lost:
                on_lost(lost - self.lost_reported, lost)
            self.lost_reported = lost

    def close(self):
        if self._signals is not None:
            self._signals.restore()
        self.output.flush()
        # Every event captured was printed or is counted here.
        unprinted = self.output.unprinted
        if unprinted:
            sys.stderr.write("%s: %d events lost (%s: %d; not printed, "
                             "stdout not read after Ctrl-C: %d)\n"
                             % (self.tool, self.lost_reported + unprinted, self.lost_why,
                                self.lost_reported, unprinted))
        elif self.lost_reported:
            sys.stderr.write("%s: %d events lost (%s)\n"
                             % (self.tool, self.lost_reported, self.lost_why))
        self.output.restore()
        for ring, _ in self._rings:
            ring.close()
        self._rings = []
        if self._epoll is not None:
            self._epoll.close()
            self._epoll = None
        if self.bpf is not None:
            self.bpf.cleanup()
            self.bpf = None


def private_memory_kb():
    """Anonymous memory of this process (kB, /proc/self/smaps_rollup)."""
    try:
        with open("/proc/self/smaps_rollup") as f:
            for line in f:
                if line.startswith("Anonymous:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _release_compiler_memory(measure=False):
    """Once the programs are loaded the compiler is not needed again.
    LLVM frees most of what the compile took, but glibc keeps the freed
    heap: malloc_trim hands it back.  And the compiler's code (libLLVM's
    and libclang's text, about 75 MiB) stays resident in this process:
    it is dropped from it (bench/results.md, Memory).  MEASURE: returns the
    anonymous memory before and after (kB), else None."""
    if os.environ.get("CTRACE_NO_TRIM") == "1" or libc.malloc_trim is None:
        return None                 # asked not to, or not glibc: nothing to hand back
    before = measure and private_memory_kb()
    libc.malloc_trim(0)
    _drop_resident_code(libc.madvise, COMPILER_LIBRARIES)
    if measure:
        return {"anon_kb_before_trim": before, "anon_kb_after_trim": private_memory_kb()}
    return None


# The libraries only BCC's compile runs (distributions that link LLVM into
# libbcc itself have none: nothing is dropped there).
COMPILER_LIBRARIES = ("/libLLVM", "/libclang-cpp")
MADV_DONTNEED = 4
SMAPS_RANGE = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(\S*)")


def _drop_resident_code(madvise, libraries, smaps="/proc/self/smaps"):
    """Drop this process's pages of the executable mappings of LIBRARIES:
    they are the page cache's, shared and clean, and come back at the next
    call into them.  Only a mapping with no anonymous (copied-on-write)
    page is touched, so nothing written to it is ever lost."""
    mapping = None
    try:
        with open(smaps) as f:
            for line in f:
                m = SMAPS_RANGE.match(line)
                if m:
                    start, end, perms, path = m.groups()
                    mapping = None
                    if perms == "r-xp" and any(lib in path for lib in libraries):
                        mapping = (int(start, 16), int(end, 16))
                elif mapping and line.startswith("Anonymous:"):
                    if line.split()[1] == "0":
                        madvise(mapping[0], mapping[1] - mapping[0], MADV_DONTNEED)
                    mapping = None
    except OSError:
        pass                        # no /proc: the pages stay


# The program types of the programs BCC loads and attaches by their names
# (BPF._trace_autoload): the only ones ctrace's C defines.
AUTOLOADED = ((b"tracepoint__", "TRACEPOINT"), (b"raw_tracepoint__", "RAW_TRACEPOINT"))


def _bpf_class(bcc, timings, also=()):
    """bcc.BPF, whose constructor has the verifier check its programs on two
    threads (_verify_beside) before it attaches them, each by its name and
    those of ALSO (Program.also_attached) where they say too; TIMINGS (a
    _Timings or None) records both phases."""
    def timed(phase, function):
        return timings.timed(phase, function) if timings else function

    class BPF(bcc.BPF):
        def _trace_autoload(self):
            timings and timings.mark("compiled")
            timed("verifier_s", lambda: _verify_beside(self, bcc))()
            timed("attach_s", self._attach)()

        def _attach(self):
            super(BPF, self)._trace_autoload()          # loaded: it attaches
            for program, tp in also:
                where = attach_point(program, tp).encode()
                if program.startswith("raw_tracepoint__"):
                    self.attach_raw_tracepoint(tp=where, fn_name=program.encode())
                else:
                    self.attach_tracepoint(tp=where, fn_name=program.encode())
    return BPF


def two_sides(programs):
    """PROGRAMS ((size, name, kind)) as two lists of (name, kind), the
    largest first on the side with less so far: the verifier's time grows
    with a program's size."""
    sides = ([], [])
    sizes = [0, 0]
    for size, name, kind in sorted(programs, key=lambda p: p[0], reverse=True):
        side = 0 if sizes[0] <= sizes[1] else 1
        sides[side].append((name, kind))
        sizes[side] += size
    return sides


def _verify_beside(bpf, bcc):
    """Load BPF's programs (BCC's load_func, which keeps them for the
    attach): the verifier's work, shared between the loading thread and one
    beside it (two_sides).  containerescape's verifier took 0.10 s of its
    start, 0.06 s so (alternated runs)."""
    lib = bcc.lib
    programs = []
    for i in range(lib.bpf_num_functions(bpf.module)):
        name = lib.bpf_function_name(bpf.module, i)
        for prefix, kind in AUTOLOADED:
            if name.startswith(prefix):
                programs.append((lib.bpf_function_size(bpf.module, name), name,
                                 getattr(bcc.BPF, kind)))
    sides = two_sides(programs)

    def load(side):
        for name, kind in side:
            bpf.load_func(name, kind)
    if not sides[1]:
        return load(sides[0])
    other = Beside(lambda: load(sides[1]), "ctrace-verify")
    try:
        load(sides[0])
    finally:
        other.join()
    other.result()


class _Timings:
    """Start-up phases (CTRACE_TIMINGS=1): monotonic marks, and the time
    BCC's constructor spends in the verifier (load_func) and attaching
    (_bpf_class)."""

    def __init__(self):
        self.values = {"imported": IMPORTED_AT, "load": time.monotonic(),
                       "verifier_s": 0.0, "attach_s": 0.0}

    def mark(self, name):
        self.values[name] = time.monotonic()

    def timed(self, phase, function):
        """FUNCTION, its time recorded as PHASE (seconds)."""
        def timed():
            start = time.monotonic()
            try:
                return function()
            finally:
                self.values[phase] = time.monotonic() - start
        return timed

    def line(self):
        return " ".join("%s=%s" % (k, round(v, 4) if isinstance(v, float) else v)
                        for k, v in sorted(self.values.items()))


def load_failed(reason, hint=None):
    """The one line of a program that did not load, for REASON (and HINT)."""
    return ("loading the BPF program failed: %s (kernel %s; run with --ebpf to see the C%s)"
            % (reason, os.uname().release, "; " + hint if hint else ""))


class _quiet_stderr:
    """Collects what the compiler prints on fd 2 while BCC loads; it is shown
    only if the load fails (BCC prints errors itself, warnings are noise).

    LLVM answers an error of its BPF back end (a program over the 512-byte
    stack, say) with exit(1) from the compile thread: so that TOOL does not
    end without a word, an exit handler says why while the load runs."""

    def __init__(self, tool):
        self.tool = tool

    def __enter__(self):
        sys.stderr.flush()
        self.saved = os.dup(2)
        self.file = tempfile.TemporaryFile()
        os.dup2(self.file.fileno(), 2)
        self.exit_hook = libc.ExitHook(self._compiler_exited)
        return self

    def errors(self):
        text = os.pread(self.file.fileno(), 1 << 20, 0).decode("utf-8", "replace")
        return [l for l in text.splitlines() if "error" in l]

    def _compiler_exited(self):
        errors = self.errors()
        reason = "the compiler ended the process"
        if errors:
            reason += ": " + errors[0].split("error: ", 1)[-1]
        os.write(self.saved, ("%s: %s\n" % (self.tool, load_failed(reason))).encode())

    def __exit__(self, exc_type, exc, tb):
        self.exit_hook.cancel()
        os.dup2(self.saved, 2)
        os.close(self.saved)
        if exc_type is not None:
            errors = self.errors()
            if errors:
                sys.stderr.write("%s\n" % "\n".join(errors[:10]))
        self.file.close()
        return False
