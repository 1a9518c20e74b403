"""containersyscall's counting: the kernel's counters per container and
syscall (and errno) into rows, apart from the tool so that it can be tested."""

import mmap

from ctrace.bpf import header_constants

SC = header_constants("containersyscall.h", "SC_")
NR_URING = SC.NR_URING          # | io_uring opcode


def number_of_column(col):
    """The call a column of the kernel's rows counts (containersyscall.h)."""
    if col >= SC.COL_URING:
        return NR_URING | (col - SC.COL_URING)
    if col >= SC.COL_COMPAT:
        return SC.NR_COMPAT | (col - SC.COL_COMPAT)
    return col


def mapped_rows(table):
    """The kernel's rows (an mmapable array of struct sc_val), read from
    memory: u64 calls, errors per column, SC_COLUMNS columns a slot."""
    size = SC.MAX_SLOTS * SC.COLUMNS * 16
    size += -size % mmap.PAGESIZE
    return memoryview(mmap.mmap(table.map_fd, size, mmap.MAP_SHARED, mmap.PROT_READ)).cast("Q")


class Counts:
    """Reads the kernel's counters and turns them into rows per container
    and syscall: deltas since the last refresh, or totals."""

    def __init__(self, bpf, resolve, errno=False, rows=None):
        self.bpf = bpf                  # the loaded program (or its maps, by name)
        self.rows_memory = rows         # u64s of the kernel's rows (mapped_rows)
        self.resolve = resolve          # (cgroup_id, mntns) -> Container
        self.errno = errno              # -e: the most frequent errno per row
        self.prev = {}                  # (cgroup, mntns, nr, setup) -> (calls, errors)
        self.prev_err = {}              # (cgroup, mntns, nr, setup, err) -> count

    def container(self, cgroup_id, mntns):
        return self.resolve(cgroup_id, mntns)

    def snapshot(self):
        """{(cgroup, mntns, nr, setup): (calls, errors)}: the slots' rows, and
        the hash map's counters (calls without a slot or a column)."""
        out = {(k.cgroup_id, k.mntns, k.nr, bool(k.key_flags & SC.K_RUNTIME)):
               (v.calls, v.errors) for k, v in self.bpf["counts"].items()}
        if self.rows_memory is None:
            return out
        width = 2 * SC.COLUMNS
        for k, slot in self.bpf["slots"].items():
            base = slot.value * width
            row = self.rows_memory[base:base + width].tolist()
            setup = bool(k.key_flags & SC.K_RUNTIME)
            for col, calls in enumerate(row[0::2]):
                if calls:       # errors are counted with their calls
                    key = (k.cgroup_id, k.mntns, number_of_column(col), setup)
                    before = out.get(key, (0, 0))
                    out[key] = (before[0] + calls, before[1] + row[2 * col + 1])
        return out

    def errno_snapshot(self):
        return {(k.cgroup_id, k.mntns, k.nr, bool(k.key_flags & SC.K_RUNTIME), k.err):
                v.value for k, v in self.bpf["errnos"].items()}

    def rows(self, select=None):
        """[(container, nr, calls, errors, top errno or None, the runtime's
        set-up?)] since the last call, largest first; SELECT(container)
        limits the containers."""
        cur = self.snapshot()
        agg = {}
        for key, (calls, errors) in cur.items():
            pcalls, perrors = self.prev.get(key, (0, 0))
            dc, de = calls - pcalls, errors - perrors
            if not dc and not de:
                continue
            c = self.container(key[0], key[1])
            if select and not select(c):
                continue
            ident = (c.kind, c.runtime, c.id, key[2], key[3])
            row = agg.setdefault(ident, [c, key[2], 0, 0, {}, key[3]])
            row[2] += dc
            row[3] += de
        self.prev = cur
        if self.errno:
            cur_err = self.errno_snapshot()
            for key, n in cur_err.items():
                d = n - self.prev_err.get(key, 0)
                if d <= 0:
                    continue
                c = self.container(key[0], key[1])
                row = agg.get((c.kind, c.runtime, c.id, key[2], key[3]))
                if row is not None:
                    row[4][key[4]] = row[4].get(key[4], 0) + d
            self.prev_err = cur_err
        out = []
        for c, nr, calls, errors, errs, setup in agg.values():
            top = max(errs.items(), key=lambda kv: (kv[1], -kv[0])) if errs else None
            out.append((c, nr, calls, errors, top, setup))
        out.sort(key=lambda r: (-r[2], -r[3], r[0].label, r[1], r[5]))
        return out

    def totals(self, select=None, io_uring=False):
        """{syscall number: (calls, errors)} of the selected containers
        since the start (IO_URING: {io_uring opcode: ...} instead)."""
        out = {}
        for (cgid, mntns, nr, _), (calls, errors) in self.snapshot().items():
            if bool(nr & NR_URING) != io_uring:
                continue
            nr &= ~NR_URING
            if select is None or select(self.container(cgid, mntns)):
                c, e = out.get(nr, (0, 0))
                out[nr] = (c + calls, e + errors)
        return out

    def dropped(self):
        return sum(v.value for v in self.bpf["dropped"].values())
