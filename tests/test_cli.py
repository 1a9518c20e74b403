"""Bad input: one line on stderr and a non-zero exit, never a traceback."""

import glob
import os
import subprocess

import pytest

from conftest import PYTHON, ROOT, TOOLS, run_tool

TOOL_NAMES = sorted(os.path.basename(p) for p in glob.glob(os.path.join(TOOLS, "container*"))
                    if "." not in os.path.basename(p) and not p.endswith("_example.txt"))

# Values every tool must refuse for the shared options.
BAD_COMMON = [
    ("-p", "abc"), ("-p", "0"), ("-p", "-5"),
    ("-u", "x"), ("-u", "-1"),
    ("-n", "a-name-longer-than-15"), ("-n", ""),
    ("-d", "0"), ("-d", "soon"), ("-d", "nan"),
    ("-c", ""),
    ("--no-such-option", None),
]


@pytest.mark.parametrize("name", TOOL_NAMES)
@pytest.mark.parametrize("opt,value", BAD_COMMON)
def test_bad_common_option_values(name, opt, value):
    args = [opt] + ([value] if value is not None else [])
    r = run_tool(name, *args)
    assert r.returncode == 2, (args, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "error" in lines[0], r.stderr
    assert "Traceback" not in r.stderr


# Numbers beyond what the kernel can give (issue 14, item 5): nothing could
# ever match them, so they are refused.  -d 1: a tool that wrongly accepts
# one ends on its own (and the test fails on its exit status).
OUT_OF_RANGE = [("-p", "99999999999"), ("-p", "0"), ("-p", "-1"), ("-p", "4194304"),
                ("-u", "99999999999"), ("-u", "4294967295"), ("-u", "-1")]


def pid_max():
    with open("/proc/sys/kernel/pid_max") as f:
        return int(f.read())


@pytest.mark.parametrize("name", TOOL_NAMES)
@pytest.mark.parametrize("opt,value", OUT_OF_RANGE + [("-p", "pid_max")])
def test_out_of_range_numbers_are_refused(name, opt, value):
    if value == "pid_max":
        value = str(pid_max())              # PIDs end at pid_max - 1
    r = run_tool(name, opt, value, "-d", "1")
    assert r.returncode == 2, (opt, value, r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "error" in lines[0] and opt in lines[0], r.stderr
    assert "Traceback" not in r.stderr and "warning" not in r.stderr
    assert r.stdout == ""


@pytest.mark.parametrize("opt,value,define", [
    ("-u", "4294967294", "#define CT_FILTER_UID 4294967294u"),
    ("-u", "0", "#define CT_FILTER_UID 0u"),
    ("-p", "1", "#define CT_FILTER_PID 1u"),
    ("-p", "pid_max - 1", None),
])
def test_numbers_at_the_edges_of_the_range_are_accepted(opt, value, define):
    if value == "pid_max - 1":
        value = str(pid_max() - 1)
        define = "#define CT_FILTER_PID %su" % value
    r = run_tool("containerexec", opt, value, "--ebpf")
    assert r.returncode == 0, r.stderr
    assert define in r.stdout.splitlines()


def setup_version():
    """The version setup.py installs (its one source, read as setup.py does)."""
    r = subprocess.run([PYTHON, "setup.py", "--version"], cwd=ROOT, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("name", TOOL_NAMES)
def test_version(name):
    version = setup_version()
    assert version.count(".") >= 1
    r = run_tool(name, "--version")
    assert r.returncode == 0 and r.stderr == ""
    assert r.stdout.strip() == "%s (ctrace) %s" % (name, version)


@pytest.mark.parametrize("name", TOOL_NAMES)
def test_host_and_container_exclude_each_other(name):
    r = run_tool(name, "--host", "-c", "web")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("name", TOOL_NAMES)
def test_not_root_is_one_line_exit_1(name):
    if os.geteuid() != 0:
        r = run_tool(name)
    else:
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            PYTHON, os.path.join(TOOLS, name)],
                           capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, r.stderr
    assert "root" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("name", TOOL_NAMES)
def test_ebpf_prints_the_program(name):
    r = run_tool(name, "--ebpf")
    assert r.returncode == 0, r.stderr
    assert "#define CT_OFF_TASK_NSPROXY" in r.stdout
    assert "ct_traced" in r.stdout


def test_containerexec_sources_resolve_through_setup_paths():
    from ctrace.bpf import bpf_source_dir
    assert os.path.exists(os.path.join(bpf_source_dir(), "containerexec.bpf.c"))
