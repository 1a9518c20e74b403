"""Unit tests of the tool frame (ctrace/tool.py) and of the tools' logic
that lives in ctrace/ (containerescape's Tally, containeropen's summary
rows and FD column): no BPF, no runtime."""

import array
import collections
import io
from argparse import Namespace

from ctrace import tool
from ctrace.containers import HOST, Container
from ctrace.escape import Tally
from ctrace.opens import C as OPEN, SummaryRows, uring_result
from ctrace.output import Output


class FakeRunner:
    """What trace() asks of ctrace.bpf.Runner, recorded in order."""

    def __init__(self):
        self.calls = []

    def on_events(self, table, handler):
        self.calls.append(("on_events", table, handler))

    def ready(self, what):
        self.calls.append(("ready", what))

    def loop(self, output, duration=None, every=(), on_lost=None):
        self.calls.append(("loop", duration, list(every), on_lost is not None))


class Declared(tool.Tool):
    def __init__(self, ctx):
        super().__init__(ctx)
        self.what = "things in " + tool.scope(ctx.args)
        self.done = []

    def attached(self):
        self.done.append("attached")

    def header(self):
        return "HEADER"

    def handlers(self):
        return {"events": self.on_event}

    def on_event(self, data, size):
        pass

    def every(self):
        return [(1.0, self.tick)]

    def tick(self):
        pass

    def summary(self):
        self.done.append("summary")


def traced(json_mode, **args):
    ctx = tool.Context("t", Namespace(json=json_mode, duration=2.5, **args))
    out = io.StringIO()
    ctx.output = Output(json_mode, stream=out)
    ctx.runner = FakeRunner()
    declared = Declared(ctx)
    tool.trace(ctx, declared)
    return ctx.runner.calls, declared, out.getvalue()


def test_frame_attaches_prints_the_header_says_ready_loops_then_summarises():
    calls, declared, out = traced(False)
    assert out == "HEADER\n"
    assert calls == [("on_events", "events", declared.on_event),
                     ("ready", "things in containers"),
                     ("loop", 2.5, [(1.0, declared.tick)], True)]
    assert declared.done == ["attached", "summary"]


def test_frame_prints_no_header_in_json_mode():
    calls, declared, out = traced(True, host=True)
    assert out == ""
    assert ("ready", "things in containers and on the host") in calls


def test_a_tool_without_a_header_or_handlers_just_loops():
    ctx = tool.Context("t", Namespace(json=False, duration=None))
    ctx.output = Output(False, stream=io.StringIO())
    ctx.runner = FakeRunner()
    bare = tool.Tool(ctx)
    bare.what = "nothing"
    tool.trace(ctx, bare)
    assert ctx.runner.calls == [("ready", "nothing"), ("loop", None, [], True)]


# -- containerescape's Tally -------------------------------------------------

Counts = collections.namedtuple("Counts", "attempts successes repeats lost killed sent")


def test_tally_rows_sorted_excluded_counted_helpers_added():
    web, db = Container("runtime", "docker", "a" * 64), Container("runtime", "docker", "b" * 64)
    tally = Tally(lambda c: c is db)
    tally.add_helper(web, True)
    tally.add_helper(web, False)
    rows = tally.rows([(web, "mount", Counts(3, 1, 2, 0, 1, 1)),
                       (db, "ptrace", Counts(5, 0, 0, 0, 0, 5)),
                       (HOST, "privilege", Counts(1, 1, 0, 0, 0, 1))])
    assert tally.excluded == 5
    # By container label ("aaaaaaaaaaaa" before "host"), then technique.
    assert [r[:8] for r in rows] == [
        ["aaaaaaaaaaaa", "host-helper-exec", 2, 1, 0, 0, 0, 2],
        ["aaaaaaaaaaaa", "mount", 3, 1, 2, 0, 1, 1],
        ["host", "privilege", 1, 1, 0, 0, 0, 1]]
    named = [dict(zip(Tally.KEYS, r)) for r in rows]
    assert [r["container_id"] for r in named] == ["a" * 64, "a" * 64, None]
    assert [r["container_runtime"] for r in named] == ["docker", "docker", None]


# -- containeropen's summary rows ---------------------------------------------

Key = collections.namedtuple("Key", "cgroup_id mntns key_flags path")
Value = collections.namedtuple("Value", "opens failures last_errno")


def resolve(cgroup_id, mntns, host):
    return HOST


def test_summary_rows_rate_over_the_interval_busiest_first():
    rows = SummaryRows(resolve, json_mode=False, runtime=False)
    a, b = Key(1, 2, 0, b"/etc/a"), Key(1, 2, OPEN.K_URING | OPEN.K_TRUNCATED, b"/etc/b")
    first = rows.rows([(a, Value(10, 0, 0)), (b, Value(4, 4, -2))], 2.0)
    assert first == [["host", 10, "5.0", 0, "-", b"/etc/a"],
                     ["host", 4, "2.0", 4, "iou:ENOENT", b"/etc/b..."]]
    # Since the last refresh, a opened once more and b three times: b first.
    second = rows.rows([(a, Value(11, 0, 0)), (b, Value(7, 7, -2))], 1.0)
    assert [r[1] for r in second] == [7, 11]
    assert second[0][2] == "3.0" and second[1][2] == "1.0"


def test_summary_rows_setup_column_and_json_fields():
    key = Key(7, 8, OPEN.K_RUNTIME, b"/proc/self/attr")
    table = SummaryRows(resolve, json_mode=False, runtime=True).rows([(key, Value(1, 0, 0))], 1)
    assert table == [["host", 1, "1.0", 0, "-", "yes", b"/proc/self/attr"]]
    json_rows = SummaryRows(resolve, json_mode=True, runtime=False).rows(
        [(key, Value(2, 1, -13))], 1)
    from ctrace.opens import SUMMARY_KEYS
    row = dict(zip(SUMMARY_KEYS, json_rows[0]))
    assert row["container"] == "host" and row["opens"] == 2 and row["rate_per_s"] == 2.0
    assert row["last_error"] == "EACCES" and row["last_errno"] == -13
    assert row["path"] == "/proc/self/attr" and row["path_truncated"] is False
    assert row["via"] == "syscall" and row["runtime_setup"] is True
    assert row["cgroup_id"] == 7 and row["mntns"] == 8


def test_uring_fd_column():
    assert uring_result(5, 0, -1) == " iou:5"
    assert uring_result(-2, 0, -1) == "iou:ENOENT"
    assert uring_result(0, 0, 3) == " iou#3"
    assert uring_result(0, OPEN.F_NO_RESULT, -1) == " iou:?"


# -- containernet's container pairs ---------------------------------------------

NetKey = collections.namedtuple(
    "NetKey", "cgroup_id mntns netns proto family dir raddr rport peer_cgroup_id peer_netns")
NetValue = collections.namedtuple("NetValue", "conns fails tx_bytes rx_bytes")


class FakeRegistry:
    """Names cgroup 1 "web", cgroup 2 "db"; 10.0.0.9:5432 is db's."""

    def __init__(self):
        self.web = Container("runtime", "docker", "1" * 64)
        self.db = Container("runtime", "docker", "2" * 64)

    def resolve_key(self, cgroup_id, mntns):
        return {1: self.web, 2: self.db}.get(cgroup_id, HOST)

    def resolve_socket(self, cgroup_id, netns):
        return self.resolve_key(cgroup_id, 0)

    def resolve_address(self, addr, port, netns, outgoing):
        return self.db if (addr, port) == ("10.0.0.9", 5432) else None


def v4(text):
    return bytes(int(x) for x in text.split(".")) + bytes(12)


def test_connection_pairs_client_to_server_summed_tcp_first():
    from ctrace.netfmt import C as NET, connection_pairs
    reg = FakeRegistry()
    tcp, udp, out, inn = NET.PROTO_TCP, NET.PROTO_UDP, NET.DIR_OUT, NET.DIR_IN

    def key(cgroup, proto, direction, addr, port, peer_cgroup):
        return NetKey(cgroup, 0, 0, proto, NET.AF_INET, direction, v4(addr), port,
                      peer_cgroup, 0)
    stats = [
        # web -> db twice, once matched by the kernel (peer cgroup), once by address
        (key(1, tcp, out, "10.0.0.9", 5432, 2), NetValue(1, 0, 100, 10)),
        (key(1, tcp, out, "10.0.0.9", 5432, 0), NetValue(2, 1, 50, 5)),
        # db's side of the same connections: server side, its tx is the client's rx
        (key(2, tcp, inn, "10.0.0.7", 40000, 1), NetValue(3, 0, 15, 150)),
        # web to an outside address, UDP
        (key(1, udp, out, "8.8.8.8", 53, 0), NetValue(4, 0, 40, 0)),
        # nothing counted: left out
        (key(2, tcp, out, "1.1.1.1", 80, 0), NetValue(0, 0, 0, 0)),
    ]
    rows, containers = connection_pairs(stats, reg)
    assert rows == [("111111111111", "222222222222", "tcp", 6, 1, 300, 30),
                    ("111111111111", "8.8.8.8:53", "udp", 4, 0, 40, 0)]
    assert containers == {"111111111111", "222222222222"}


# -- containersyscall's counts -----------------------------------------------

SysKey = collections.namedtuple("SysKey", "cgroup_id mntns nr key_flags")
ErrKey = collections.namedtuple("ErrKey", "cgroup_id mntns nr key_flags err")
SysValue = collections.namedtuple("SysValue", "calls errors")
Number = collections.namedtuple("Number", "value")


class FakeMap(dict):
    pass


def test_counts_rows_are_deltas_largest_first_with_the_top_errno():
    from ctrace.syscounts import SC, Counts
    reg = FakeRegistry()
    maps = {"counts": FakeMap(), "errnos": FakeMap(), "dropped": FakeMap({0: Number(3)})}
    counts = Counts(maps, reg.resolve_key, errno=True)
    maps["counts"][SysKey(1, 0, 0, 0)] = SysValue(10, 4)        # web: read
    maps["counts"][SysKey(2, 0, 1, SC.K_RUNTIME)] = SysValue(20, 0)  # db's set-up
    maps["errnos"][ErrKey(1, 0, 0, 0, 11)] = Number(3)
    maps["errnos"][ErrKey(1, 0, 0, 0, 4)] = Number(1)
    rows = counts.rows()
    assert [(c.label, nr, calls, errors, top, setup) for c, nr, calls, errors, top, setup
            in rows] == [("222222222222", 1, 20, 0, None, True),
                         ("111111111111", 0, 10, 4, (11, 3), False)]
    maps["counts"][SysKey(1, 0, 0, 0)] = SysValue(15, 4)
    rows = counts.rows(select=lambda c: c is reg.web)
    assert [(r[1], r[2], r[3], r[4]) for r in rows] == [(0, 5, 0, None)]
    assert counts.totals() == {0: (15, 4), 1: (20, 0)}
    assert counts.totals(select=lambda c: c is reg.db) == {1: (20, 0)}
    assert counts.dropped() == 3


SlotKey = collections.namedtuple("SlotKey", "cgroup_id mntns key_flags")


def test_counts_read_the_kernels_rows_beside_its_hash_map():
    """The first containers' counters are rows of an array the kernel
    indexes by slot and column (containersyscall.h); the rest, and calls
    without a column, are in the hash map: snapshot() adds them up."""
    from ctrace.syscounts import NR_URING, SC, Counts, number_of_column
    width = 2 * SC.COLUMNS
    rows = [0] * (2 * width)                       # two slots
    rows[width + 2 * 257:width + 2 * 257 + 2] = [7, 2]                  # slot 1: openat
    rows[width + 2 * (SC.COL_COMPAT + 5)] = 1                           # ia32 open
    rows[width + 2 * (SC.COL_URING + 18):width + 2 * (SC.COL_URING + 18) + 2] = [4, 1]
    maps = {"counts": FakeMap({SysKey(3, 9, 257, 0): SysValue(1, 0),    # before its slot
                               SysKey(3, 9, 0x40000200, 0): SysValue(2, 0)}),   # x32
            "slots": FakeMap({SlotKey(3, 9, 0): Number(1)})}
    counts = Counts(maps, FakeRegistry().resolve_key, rows=memoryview(array.array("Q", rows)))
    assert counts.snapshot() == {(3, 9, 257, False): (8, 2),
                                 (3, 9, SC.NR_COMPAT | 5, False): (1, 0),
                                 (3, 9, NR_URING | 18, False): (4, 1),
                                 (3, 9, 0x40000200, False): (2, 0)}
    assert [number_of_column(c) for c in (0, SC.COL_COMPAT - 1, SC.COL_COMPAT,
                                          SC.COL_URING, SC.COLUMNS - 1)] == \
        [0, SC.COL_COMPAT - 1, SC.NR_COMPAT, NR_URING, NR_URING | (SC.COLUMNS - SC.COL_URING - 1)]


class FullMap(dict):
    """A BCC table that refuses new keys once it holds MAX_ENTRIES."""

    def __init__(self, max_entries):
        super().__init__()
        self.max_entries = max_entries

    def __setitem__(self, key, value):
        if key not in self and len(self) >= self.max_entries:
            raise Exception("Could not update table: Argument list too long")
        super().__setitem__(key, value)


def test_a_full_filter_map_costs_the_entry_and_is_said_once(capsys, monkeypatch):
    monkeypatch.setattr(tool, "_full_maps", set())
    bpf = {"ct_filter_cgroup": FullMap(2)}
    for cg in range(5):
        tool.map_put(bpf, "ct_filter_cgroup", cg)
    assert sorted(bpf["ct_filter_cgroup"]) == [0, 1]
    err = capsys.readouterr().err.splitlines()
    assert err == ["ctrace: kernel map ct_filter_cgroup is full (2 entries): -c follows no "
                   "more containers or cgroups there"]


def test_the_kernels_full_filter_count_is_said_once(capsys):
    Value = collections.namedtuple("Value", "value")
    full = {0: Value(0)}
    bpf = {}
    bpf["ct_filter_full"] = type("T", (), {"__getitem__": lambda self, k: full[k.value]})()
    check = tool.filter_full_watch(bpf)
    check()
    assert capsys.readouterr().err == ""
    full[0] = Value(3)
    for _ in range(3):
        check()
    assert capsys.readouterr().err.count("is full") == 1


def test_the_full_filter_check_is_the_frames_periodic_work(monkeypatch):
    class Runner:
        periodic = []
        each_wake = []

    class Registry:
        followed = []

        def follow(self, sel, fn):
            self.followed.append(sel)

    class Ctx:
        runner = Runner()
        registry = Registry()
    selection = type("Sel", (), {"pod": None, "paths": [], "ref": "x"})()
    monkeypatch.setattr(tool, "apply_selection", lambda bpf, sel: None)
    monkeypatch.setattr(tool, "selection_follower", lambda ctx, bpf, sel: None)
    tool.follow_selections(Ctx, {}, [selection])
    assert Registry.followed == [selection]
    assert [s for s, _ in Runner.periodic] == [tool.FILTER_FULL_SECONDS]
    assert Runner.each_wake == []

