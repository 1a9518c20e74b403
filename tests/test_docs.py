"""Docs move with code: every tool's man page, example file and -h agree
with its argparse options."""

import glob
import importlib.machinery
import importlib.util
import os
import re
import subprocess

import pytest

from conftest import PYTHON, ROOT, TOOLS

SECTIONS = ["NAME", "SYNOPSIS", "DESCRIPTION", "REQUIREMENTS", "OPTIONS", "EXAMPLES",
            "FIELDS", "FILES", "OVERHEAD", "SOURCE", "SEE ALSO"]
# Sections a tool's man page adds to SECTIONS, each after the one named.
EXTRA_SECTIONS = {"containerescape": [("TECHNIQUES", "DESCRIPTION"), ("RESPONSE", "TECHNIQUES")]}
TOOL_NAMES = sorted(os.path.basename(p) for p in glob.glob(os.path.join(TOOLS, "container*"))
                    if "." not in os.path.basename(p) and not p.endswith("_example.txt"))


def load_tool(name):
    loader = importlib.machinery.SourceFileLoader("tool_" + name, os.path.join(TOOLS, name))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def option_strings(parser):
    out = set()
    for action in parser._actions:
        if action.help == "==SUPPRESS==":
            continue
        out.update(action.option_strings)
    return out


def help_text(name):
    env = dict(os.environ, COLUMNS="80")
    r = subprocess.run([PYTHON, os.path.join(TOOLS, name), "-h"], capture_output=True,
                       text=True, env=env, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_there_are_tools():
    assert "containerexec" in TOOL_NAMES


@pytest.mark.parametrize("name", TOOL_NAMES)
def test_man_page_sections(name):
    page = open(os.path.join(ROOT, "man", "man8", name + ".8")).read()
    headings = re.findall(r"^\.SH (.+)$", page, re.M)
    expected = list(SECTIONS)
    for section, after in EXTRA_SECTIONS.get(name, []):
        expected.insert(expected.index(after) + 1, section)
    assert headings == expected


@pytest.mark.parametrize("name", TOOL_NAMES)
def test_man_page_options_match_argparse(name):
    page = open(os.path.join(ROOT, "man", "man8", name + ".8")).read()
    options_section = page.split(".SH OPTIONS", 1)[1].split(".SH ", 1)[0]
    documented = set(re.findall(r"\\fB(--?[A-Za-z0-9][A-Za-z0-9-]*)\\fR", options_section))
    parser = load_tool(name).build_parser()
    actual = option_strings(parser)
    assert actual - documented == set(), "options missing from the man page"
    assert documented - actual == set(), "man page documents options the tool lacks"


@pytest.mark.parametrize("name", TOOL_NAMES)
def test_example_file_ends_with_help(name):
    text = open(os.path.join(TOOLS, name + "_example.txt")).read()
    assert text.rstrip().endswith(help_text(name).rstrip())
    assert len(text) > len(help_text(name)) + 200, "no annotated example output"


@pytest.mark.parametrize("name", TOOL_NAMES)
def test_readme_mentions_tool(name):
    assert name in open(os.path.join(ROOT, "README.md")).read()


@pytest.mark.parametrize("name", TOOL_NAMES)
def test_tool_is_executable_with_system_python(name):
    path = os.path.join(TOOLS, name)
    assert os.access(path, os.X_OK)
    assert open(path).readline().strip() == "#!/usr/bin/python3"
