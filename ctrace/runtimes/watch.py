"""Following the runtimes' state on disk: StateFiles, what a runtime
module says of its files (where they are, which to read, how), and one
StateWatcher thread that follows them all with inotify, so that a
container that lives for a millisecond is named."""

import ctypes
import errno
import os
import select
import struct
import threading
import time

from ctrace import libc
from ctrace.threads import leave_stop_signals_to_main_thread


class StateFiles:
    """A runtime's own state on disk, as StateWatcher follows it: below each
    of ROOTS, directories down to DEPTH levels (those descend() accepts),
    and in them the files (wants()) that read() turns into ContainerInfos.
    The runtime writes them before the container's first process runs."""

    runtime = ""
    roots = ()
    depth = 0

    def descend(self, depth, name):
        """Is NAME, a directory DEPTH levels below a root, worth following?"""
        return True

    def wants(self, depth, name):
        """Is NAME, a file DEPTH levels below a root, one read() reads?"""
        return False

    def read(self, path):
        """[ContainerInfo] that the state file PATH tells of ([]: unreadable)."""
        return []

    def inspect(self, cid):
        """The container of id CID as the files tell of it now, or None."""
        return None


class Inotify:
    """The kernel's inotify through ctypes (Python has no binding): watch
    directories, read (watch descriptor, mask, name) events."""

    CREATE, CLOSE_WRITE, MOVED_TO, IGNORED, ONLYDIR = 0x100, 0x8, 0x80, 0x8000, 0x01000000
    _EVENT = struct.Struct("iIII")

    def __init__(self):
        self.fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")

    def watch(self, path, mask):
        """A watch descriptor for directory PATH; OSError if it cannot be
        watched (ENOENT: it is gone)."""
        wd = libc.inotify_add_watch(self.fd, os.fsencode(path), mask | self.ONLYDIR)
        if wd < 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code), path)
        return wd

    def read(self, timeout):
        """Events that arrive within TIMEOUT seconds: [(wd, mask, name)]."""
        if not select.select([self.fd], [], [], timeout)[0]:
            return []
        try:
            data = os.read(self.fd, 65536)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EINTR):
                return []
            raise
        out, pos = [], 0
        while pos + self._EVENT.size <= len(data):
            wd, mask, _, length = self._EVENT.unpack_from(data, pos)
            pos += self._EVENT.size
            name = data[pos:pos + length].split(b"\0", 1)[0]
            pos += length
            out.append((wd, mask, os.fsdecode(name)))
        return out

    def close(self):
        os.close(self.fd)


class StateWatcher(threading.Thread):
    """Follows runtimes' state on disk (StateFiles) with inotify, Inspektor
    Gadget's way (the node's files, no socket): a container that lives for
    a millisecond is named only if its files are read as soon as they are
    written.  A directory is watched as soon as it is created, then listed
    (nothing made in between is missed); roots that appear later are picked
    up within RESCAN_SECONDS.  PUT(ContainerInfo) receives what a file
    tells that differs from what it told before; REPORT(text) an error,
    after which the watcher goes on."""

    RESCAN_SECONDS = 1.0
    MASK = Inotify.CREATE | Inotify.CLOSE_WRITE | Inotify.MOVED_TO
    WRITTEN = Inotify.CLOSE_WRITE | Inotify.MOVED_TO
    TOLD_MAX = 16384

    def __init__(self, sources, put, report):
        super().__init__(name="ctrace-state-files", daemon=True)
        self.sources = sources
        self.put = put
        self.report = report
        self.stop = threading.Event()
        self.tried = threading.Event()  # the roots there are, watched and read
        self._inotify = None
        self._dirs = {}                 # wd -> (source, depth, path)
        self._roots = set()             # (source, root) watched
        self._told = {}                 # (file, runtime, id) -> what PUT was told last
        self._rescanned = 0.0

    def run(self):
        leave_stop_signals_to_main_thread()
        try:
            self.open()
            try:
                while not self.stop.is_set():
                    self.step(self.RESCAN_SECONDS)
            finally:
                self._inotify.close()
        except Exception as exc:
            self.report("cannot follow the runtimes' state files: %s" % exc)
        finally:
            self.tried.set()

    def open(self):
        self._inotify = Inotify()

    def step(self, timeout):
        """Look for new roots (at most every RESCAN_SECONDS), then handle
        what inotify says within TIMEOUT seconds."""
        if time.monotonic() - self._rescanned >= self.RESCAN_SECONDS:
            self._rescanned = time.monotonic()
            self._guarded(self._rescan)
            self.tried.set()
        for wd, mask, name in self._inotify.read(timeout):
            self._guarded(self._event, wd, mask, name)

    def _guarded(self, step, *args):
        try:
            step(*args)
        except Exception as exc:        # said, and the watcher goes on
            self.report("reading the runtimes' state files: %s: %s" % (type(exc).__name__, exc))

    def _rescan(self):
        for source in self.sources:
            for root in source.roots:
                if (source, root) not in self._roots and os.path.isdir(root):
                    self._roots.add((source, root))
                    self._added(source, 0, root)

    def _added(self, source, depth, path):
        """Directory PATH appeared (or was there at the start): watch it,
        then take what it holds already."""
        try:
            wd = self._inotify.watch(path, self.MASK)
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ENOTDIR):     # not gone already
                self.report("cannot watch the runtimes' state directories: %s%s" % (
                    exc.strerror, " (fs.inotify.max_user_watches)"
                    if exc.errno == errno.ENOSPC else ""))
            return
        self._dirs[wd] = (source, depth, path)
        try:
            names = os.listdir(path)
        except OSError:
            return
        for name in names:
            self._entry(source, depth, path, name, Inotify.MOVED_TO)

    def _event(self, wd, mask, name):
        if mask & Inotify.IGNORED:      # its directory is gone
            source, depth, path = self._dirs.pop(wd, (None, None, None))
            if depth == 0:
                self._roots.discard((source, path))
        elif wd in self._dirs and name:
            self._entry(*self._dirs[wd], name, mask)

    def _entry(self, source, depth, path, name, mask):
        """NAME in PATH, DEPTH levels below a root of SOURCE, was created,
        written or moved there (MASK)."""
        full = os.path.join(path, name)
        if source.wants(depth, name):
            if mask & self.WRITTEN:
                self._read(source, full)
        elif depth < source.depth and mask & (Inotify.CREATE | Inotify.MOVED_TO) \
                and source.descend(depth, name) and os.path.isdir(full):
            self._added(source, depth + 1, full)

    def _read(self, source, path):
        try:
            infos = source.read(path)
        except Exception as exc:        # said; the other files are read
            self.report("reading %s: %s: %s" % (path, type(exc).__name__, exc))
            return
        for info in infos:
            key = (os.path.basename(path), info.runtime, info.id)   # per kind of file
            told = (info.name, info.image, info.pid, info.pod, info.cgroup)
            if self._told.get(key) != told:
                if len(self._told) > self.TOLD_MAX:
                    self._told.clear()
                self._told[key] = told
                self.put(info)
