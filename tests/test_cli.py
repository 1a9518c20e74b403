"""Bad input: one line on stderr and a non-zero exit, never a traceback."""

import glob
import os
import subprocess

import pytest

from conftest import PYTHON, TOOLS, run_tool

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
