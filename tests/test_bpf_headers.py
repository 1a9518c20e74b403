"""bpf_c/'s shared headers: each program a header defines declares its
tracepoint (CT_NEEDS_TRACEPOINT) under the condition it is compiled
under, and ctrace.bpf checks that declarations and programs agree."""

import glob
import os
import re
import subprocess
import sys

import pytest

from ctrace import bpf
from ctrace.errors import SetupError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BPF_C = os.path.join(ROOT, "bpf_c")
TOOLS = ["containerexec", "containeropen", "containernet", "containersyscall",
         "containerescape"]

PROGRAM = re.compile(r"^(RAW_)?TRACEPOINT_PROBE\(\s*(\w+)\s*(?:,\s*(\w+)\s*)?\)")
GUARD = re.compile(r"^#ifndef \w+_H$")


def header_disagreements(text):
    """What is wrong between TEXT's programs and its CT_NEEDS_TRACEPOINT
    lines: each program needs one declaration of its tracepoint, in the same
    #if block, whose condition is that block's (#if COND) or 1 outside any."""
    stack, programs, declared, problems = [], [], [], []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if re.match(r"#\s*(if|ifdef|ifndef)\b", line):
            stack.append(None if GUARD.match(line) else re.sub(r"\s+", " ", line))
        elif re.match(r"#\s*(elif|else)\b", line) and stack:
            stack[-1] = re.sub(r"\s+", " ", line)
        elif re.match(r"#\s*endif\b", line) and stack:
            stack.pop()
        block = tuple(s for s in stack if s)
        m = PROGRAM.match(line)
        if m:
            raw, first, second = m.groups()
            event = first if raw else second
            programs.append((event, None if raw else first, block, number))
        m = bpf.TRACEPOINT_DECLARATION.match(line)
        if m:
            declared.append(m.groups() + (block, number))
    for condition, category, event, block, number in declared:
        want = () if condition == "1" else ("#if %s" % condition,)
        if block != want:
            problems.append("line %d: %s:%s declared under %s, not %s"
                            % (number, category, event, block, want))
        if not any(p[0] == event and p[1] in (None, category) and p[2] == block
                   for p in programs):
            problems.append("line %d: %s:%s declared, no program for it in its block"
                            % (number, category, event))
    for event, category, block, number in programs:
        matches = [d for d in declared
                   if d[2] == event and category in (None, d[1]) and d[3] == block]
        if len(matches) != 1:
            problems.append("line %d: program on %s has %d declarations in its block"
                            % (number, event, len(matches)))
    return problems


@pytest.mark.parametrize("header", sorted(os.path.basename(p)
                                          for p in glob.glob(os.path.join(BPF_C, "*.h"))))
def test_header_programs_and_declarations_agree(header):
    with open(os.path.join(BPF_C, header)) as f:
        assert header_disagreements(f.read()) == []


def test_disagreement_is_found():
    undeclared = "#if CT_X\nRAW_TRACEPOINT_PROBE(cgroup_mkdir)\n{\n}\n#endif\n"
    assert header_disagreements(undeclared)
    outside = ("CT_NEEDS_TRACEPOINT(CT_X, cgroup, cgroup_mkdir)\n"
               "#if CT_X\nRAW_TRACEPOINT_PROBE(cgroup_mkdir)\n{\n}\n#endif\n")
    assert header_disagreements(outside)
    wrong_condition = ("#if CT_Y\nCT_NEEDS_TRACEPOINT(CT_X, cgroup, cgroup_mkdir)\n"
                       "RAW_TRACEPOINT_PROBE(cgroup_mkdir)\n{\n}\n#endif\n")
    assert header_disagreements(wrong_condition)
    no_program = "CT_NEEDS_TRACEPOINT(1, sched, sched_switch)\n"
    assert header_disagreements(no_program)
    good = ("#ifndef A_H\n#if CT_X\nCT_NEEDS_TRACEPOINT(CT_X, io_uring, io_uring_complete)\n"
            "TRACEPOINT_PROBE(io_uring, io_uring_complete)\n{\n}\n#endif\n#endif\n")
    assert header_disagreements(good) == []


def composed_ctrace_h():
    return bpf._inline_includes(BPF_C, "ctrace.h", set())


def test_declared_tracepoints_follow_the_conditions():
    source = composed_ctrace_h()
    assert bpf.declared_tracepoints(source, {}) == []
    assert bpf.declared_tracepoints(source, {"CT_FILTER_CONTAINERS": 1}) == [
        "cgroup:cgroup_mkdir", "cgroup:cgroup_rmdir"]
    assert bpf.declared_tracepoints(source, {"CT_WORKLOAD_RULE": "1", "CT_FILTER_CONTAINERS": 0}) == [
        "sched:sched_process_fork", "sched:sched_process_exec", "sched:sched_process_free"]
    with pytest.raises(SetupError, match="not a number"):
        bpf.declared_tracepoints(source, {"CT_WORKLOAD_RULE": '"yes"'})


def test_check_attached_consistent():
    bpf.check_attached(["tracepoint__sched__sched_process_exec", "raw_tracepoint__cgroup_mkdir"],
                       {"sched:sched_process_exec", "cgroup_mkdir"},
                       ["sched:sched_process_exec", "cgroup:cgroup_mkdir"],
                       ["cgroup:cgroup_mkdir"])


@pytest.mark.parametrize("programs,attached,tracepoints,declared,message", [
    # compiled and attached, but its tracepoint was never checked
    (["raw_tracepoint__cgroup_rmdir"], {"cgroup_rmdir"}, ["cgroup:cgroup_mkdir"], [],
     "raw_tracepoint__cgroup_rmdir"),
    (["tracepoint__sched__sched_process_exit"], {"sched:sched_process_exit"}, [], [],
     "tracepoint__sched__sched_process_exit"),
    # compiled, not attached
    (["tracepoint__sched__sched_process_exit"], set(), ["sched:sched_process_exit"], [],
     "not attached"),
    # declared in effect, no program compiled
    ([], set(), ["cgroup:cgroup_mkdir"], ["cgroup:cgroup_mkdir"], "cgroup:cgroup_mkdir"),
])
def test_check_attached_disagreements(programs, attached, tracepoints, declared, message):
    with pytest.raises(SetupError, match=message):
        bpf.check_attached(programs, attached, tracepoints, declared)


def test_declared_also_at_follows_the_conditions():
    with open(os.path.join(BPF_C, "containernet.bpf.c")) as f:
        source = f.read()
    accepts = [("tracepoint__syscalls__sys_exit_accept4", "syscalls:sys_exit_accept")]
    sends = [("tracepoint__syscalls__sys_exit_sendto", "syscalls:sys_exit_sendmsg"),
             ("tracepoint__syscalls__sys_exit_sendto", "syscalls:sys_exit_sendmmsg")]
    assert bpf.declared_also_at(source, {"NET_SUMMARY": 1}) == accepts + sends
    assert bpf.declared_also_at(source, {"NET_SUMMARY": 0}) == accepts
    assert bpf.declared_also_at(source, {}) == accepts
    with pytest.raises(SetupError, match="CT_ALSO_AT condition"):
        bpf.declared_also_at(source, {"NET_SUMMARY": "on"})


def test_check_attached_also_at():
    program, tp = "tracepoint__syscalls__sys_exit_sendto", "syscalls:sys_exit_sendmsg"
    tracepoints = ["syscalls:sys_exit_sendto", tp]
    bpf.check_attached([program], {"syscalls:sys_exit_sendto", tp}, tracepoints, [],
                       [(program, tp)])
    with pytest.raises(SetupError, match="not attached to syscalls:sys_exit_sendmsg"):
        bpf.check_attached([program], {"syscalls:sys_exit_sendto"}, tracepoints, [],
                           [(program, tp)])
    with pytest.raises(SetupError, match="sys_exit_sendmmsg"):      # no such program
        bpf.check_attached([program], {"syscalls:sys_exit_sendto", tp}, tracepoints, [],
                           [("tracepoint__syscalls__sys_exit_sendmmsg", tp)])


def test_check_attached_also_at_a_raw_program():
    # a raw program is attached by its event's name, checked by its category's
    program, tp = "raw_tracepoint__sys_exit", "io_uring:io_uring_complete"
    assert bpf.attach_point(program, tp) == "io_uring_complete"
    assert bpf.attach_point("tracepoint__syscalls__sys_exit_sendto", "syscalls:sys_exit_sendmsg") \
        == "syscalls:sys_exit_sendmsg"
    tracepoints = ["raw_syscalls:sys_exit", tp]
    bpf.check_attached([program], {"sys_exit", "io_uring_complete"}, tracepoints, [],
                       [(program, tp)])
    with pytest.raises(SetupError, match="not attached to io_uring:io_uring_complete"):
        bpf.check_attached([program], {"sys_exit", tp}, tracepoints, [], [(program, tp)])


def test_containerescape_judges_io_uring_completions_in_its_sys_exit_program():
    with open(os.path.join(BPF_C, "containerescape.bpf.c")) as f:
        source = f.read()
    also = [("raw_tracepoint__sys_exit", "io_uring:io_uring_complete")]
    assert bpf.declared_also_at(source, {"CT_URING": 1}) == also
    assert bpf.declared_also_at(source, {"CT_URING": 0}) == []
    assert "TRACEPOINT_PROBE(io_uring, io_uring_complete)" not in source


def test_programs_verified_on_two_balanced_sides():
    # containerescape's programs, by instructions, when io_uring's
    # completions had a program of their own
    sizes = {"sys_exit": 2618, "io_uring_complete": 1873, "exec": 897, "submit": 335,
             "fork": 124, "exec_mark": 120, "free": 18}
    first, second = bpf.two_sides([(n, name, "kind") for name, n in sizes.items()])
    assert sorted(first + second) == sorted((name, "kind") for name in sizes)
    load = [sum(sizes[name] for name, _ in side) for side in (first, second)]
    assert first[0] == ("sys_exit", "kind") and second[0] == ("io_uring_complete", "kind")
    assert abs(load[0] - load[1]) <= max(sizes.values()) / 2, load
    assert bpf.two_sides([(5, "only", "kind")]) == ([("only", "kind")], [])
    assert bpf.two_sides([]) == ([], [])


def test_header_constants_read_lazily_with_includes(monkeypatch, tmp_path):
    monkeypatch.setenv("CTRACE_BPF_DIR", str(tmp_path / "missing"))
    constants = bpf.header_constants("containeropen.h", "OPEN_")     # nothing read yet
    with pytest.raises(SetupError, match="CTRACE_BPF_DIR"):
        constants.F_URING
    monkeypatch.delenv("CTRACE_BPF_DIR")
    ct = bpf.header_constants("ctrace.h", "CT_")
    assert ct.F_HOST_NS == 1 and ct.PF_KTHREAD == 0x00200000      # from ct_context.h
    assert bpf.header_constants("ctrace.h", "CT_FOLLOW_").CHILDREN == 2   # ct_follow.h
    with pytest.raises(AttributeError):
        ct.NO_SUCH_CONSTANT


def test_a_define_without_a_value_does_not_swallow_the_next_line(monkeypatch, tmp_path):
    """An include guard's #define, a blank line, then a constant."""
    (tmp_path / "ctrace.h").write_text("#define CT_X 1\n")
    (tmp_path / "tool.h").write_text('#ifndef TOOL_H\n#define TOOL_H\n#include "ctrace.h"\n\n'
                                     "#define TOOL_EV_FIRST 0\n#define TOOL_EV_NEXT 1\n")
    monkeypatch.setenv("CTRACE_BPF_DIR", str(tmp_path))
    constants = bpf.header_constants("tool.h", "TOOL_")
    assert (constants.EV_FIRST, constants.EV_NEXT) == (0, 1)


@pytest.mark.parametrize("tool", TOOLS)
def test_missing_bpf_sources_is_one_line(tool, tmp_path):
    env = dict(os.environ, CTRACE_BPF_DIR=str(tmp_path / "no-bpf_c"))
    done = subprocess.run([sys.executable, os.path.join(ROOT, "tools", tool), "--ebpf"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "%s: ctrace BPF sources (bpf_c/) not found in CTRACE_BPF_DIR (%r): run 'make install' "
        "in the ctrace source tree" % (tool, str(tmp_path / "no-bpf_c"))]
