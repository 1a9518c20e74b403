"""containeropen's decoding, apart from the tool so that it can be tested:
paths (joined to the directory the kernel walked), the FD column, and the
summary's rows from the kernel's counts per container and path."""

import re

from ctrace.bpf import header_constants
from ctrace.containers import CONTAINER_FIELDS
from ctrace.output import errno_name, escape, json_text
from ctrace.summary import Column

C = header_constants("containeropen.h", "OPEN_")
SYSCALLS = ["open", "openat", "openat2", "creat"]          # OPEN_SYS_* order
URING_OPS = {4: "OPENAT", 5: "OPENAT2"}                     # OPEN_SYS_URING_*

SUMMARY_COLUMNS = [Column("CONTAINER", 16, left=True), Column("OPENS", 9),
                   Column("RATE/s", 8), Column("FAILS", 7), Column("LASTERR", 8),
                   Column("PATH", 0, left=True)]
SETUP_COLUMN = Column("SETUP", 5, left=True)        # --runtime, before PATH
SUMMARY_KEYS = ["container", "opens", "rate_per_s", "failures", "last_error", "path",
                "opens_interval", "last_errno", "path_truncated", "via", "runtime_setup",
                *CONTAINER_FIELDS[1:], "cgroup_id", "mntns"]


def full_path(path, dirs, complete):
    """PATH as passed (bytes), joined to the directory it is relative to: DIRS
    are the directory's names innermost first, as the kernel walked them. An
    incomplete walk is marked with a leading '...'. '.' components and
    repeated slashes are dropped; '..' is kept (symlinks make it unsound)."""
    if path.startswith(b"/"):
        joined = path
    else:
        base = b"/".join(reversed(dirs))
        joined = (b"/" if complete else b".../") + base + b"/" + path
    lead = b"/" if joined.startswith(b"/") else b""
    parts = [p for p in joined.split(b"/") if p and p != b"."]
    trailing = b"/" if joined.endswith(b"/") and parts else b""
    return lead + b"/".join(parts) + trailing


_PLAIN = re.compile(rb"[^\x20-\x5b\x5d-\x7e]")      # printable ASCII but '\'


def show(raw):
    """Fast path of ctrace.output.escape for the common plain-ASCII path."""
    if _PLAIN.search(raw) is None:
        return raw.decode("ascii")
    return escape(raw)


def uring_result(ret, capture_flags, slot):
    """The FD column of an io_uring open: its result marked 'iou:' (fd or
    errno; '?' when the kernel does not report it), or 'iou#N' for a
    fixed-file slot N."""
    if capture_flags & C.F_NO_RESULT:
        return "%6s" % "iou:?"
    if slot >= 0:
        return "%6s" % ("iou#%d" % slot)
    return "%6s" % ("iou:%s" % (ret if ret >= 0 else errno_name(ret)))


class SummaryRows:
    """-s: the kernel's counts per container and path (open_counts' keys
    and values) into the table's rows, busiest over the last interval
    first; RESOLVE(cgroup_id, mntns, host) names the container."""

    def __init__(self, resolve, json_mode, runtime):
        self.resolve = resolve
        self.json_mode = json_mode
        self.runtime = runtime          # --runtime: the SETUP column
        self.previous = {}              # key -> opens at the last refresh

    def rows(self, counts, interval):
        rows = []
        for k, v in counts:
            key = (k.cgroup_id, k.mntns, k.key_flags, k.path)
            delta = v.opens - self.previous.get(key, 0)
            self.previous[key] = v.opens
            container = self.resolve(k.cgroup_id, k.mntns, k.key_flags & C.K_HOST)
            row = self.json_row if self.json_mode else self.table_row
            rows.append((delta, row(k, v, container, delta, interval)))
        rows.sort(key=lambda r: (r[0], r[1][1]), reverse=True)
        return [r[1] for r in rows]

    @staticmethod
    def json_row(k, v, container, delta, interval):
        f = container.fields()
        return [f["container"], v.opens, round(delta / interval, 1), v.failures,
                errno_name(v.last_errno) if v.last_errno else None,
                json_text(k.path), delta, v.last_errno, bool(k.key_flags & C.K_TRUNCATED),
                "io_uring" if k.key_flags & C.K_URING else "syscall",
                bool(k.key_flags & C.K_RUNTIME),
                *[f[key] for key in CONTAINER_FIELDS[1:]], k.cgroup_id, k.mntns]

    def table_row(self, k, v, container, delta, interval):
        path = k.path + (b"..." if k.key_flags & C.K_TRUNCATED else b"")
        marks = [("yes" if k.key_flags & C.K_RUNTIME else "-")] if self.runtime else []
        err = errno_name(v.last_errno) if v.last_errno else None
        return [container.label, v.opens, "%.1f" % (delta / interval), v.failures,
                ("iou:" if k.key_flags & C.K_URING else "") + (err or "-"), *marks, path]
