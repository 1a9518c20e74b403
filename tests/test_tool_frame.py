"""Unit tests of the tool frame (ctrace/tool.py) and of the tools' logic
that lives in ctrace/ (containerescape's Tally, containeropen's summary
rows and FD column): no BPF, no runtime."""

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
