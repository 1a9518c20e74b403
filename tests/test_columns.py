"""Names in fixed-width table columns, for real (issue 14, item 7): two
containers whose 70-character names differ only at the end, and a command
name whose escaped form is cut, must never print the same or cut an escape
in half.  Real BPF, real Docker.

These fail until the tools print their name columns through
ctrace.output.fit(name, width, pad=True) instead of escape(name)[:width].
"""

import uuid

import pytest

from conftest import docker, unique
from test_output import escape_units


def columns(text):
    """TEXT's width on a terminal, not by ctrace.output: the names and the
    escaped command here are printable ASCII, one column a character."""
    assert text.isascii() and text.isprintable(), repr(text)
    return len(text)

pytestmark = pytest.mark.integration


def long_names():
    """Two 70-character names that differ only in their last 3 characters,
    and the prefix that tells this test's rows from any other."""
    prefix = "c%s-" % uuid.uuid4().hex[:6]
    base = prefix + "x" * (67 - len(prefix))
    return prefix, base + "one", base + "two"


def first_field(line):
    return line.split()[0] if line.split() else ""


def assert_cut_apart(shown, names, width):
    """SHOWN: the column text of each of NAMES (in order)."""
    assert len(set(shown)) == len(names), "different names print the same: %r" % shown
    for text, name in zip(shown, names):
        assert columns(text) <= width, (text, width)
        assert text != name[:width] and "~" in text, "cut without a mark: %r" % text
        head = text[:text.rindex("~")]
        assert name.startswith(head), (text, name)


@pytest.mark.parametrize("name", ["containerexec", "containeropen"])
def test_long_names_differing_at_the_end_print_differently(tool, containers, name):
    prefix, a_name, b_name = long_names()
    a = containers.run("sleep", "600", name=a_name)
    b = containers.run("sleep", "600", name=b_name)
    t = tool(name)
    shown = []
    for who in (a, b):
        marker = "/tmp/" + unique("mark")
        containers.exec(who, "touch", marker)
        if name == "containerexec":
            line = t.wait_for(lambda l: isinstance(l, str) and l.endswith("touch " + marker),
                              what="exec line of %s" % who)
        else:
            line = t.wait_for(lambda l: isinstance(l, str) and l.endswith(" " + marker),
                              what="open line of %s" % who)
        shown.append(first_field(line))
        # The column keeps its width: the next field starts where it did.
        assert line[16] == " " and columns(line[:16]) == 16, line
    assert_cut_apart(shown, [a, b], 16)


def test_containersyscall_long_names_print_differently(tool, containers):
    prefix, a_name, b_name = long_names()
    a = containers.run("sleep", "600", name=a_name)
    b = containers.run("sleep", "600", name=b_name)
    t = tool("containersyscall", "0.5", "-t", "0", "-c", a, "-c", b)
    containers.exec(a, "cat", "/etc/hostname")
    containers.exec(b, "cat", "/etc/hostname")

    def two_labels(_line):
        return len({first_field(l) for l in t.lines if l.startswith(prefix)}) >= 2
    t.wait_for(two_labels, what="rows of both containers, told apart")
    assert t.stop() == 0
    labels = sorted({first_field(l) for l in t.lines if l.startswith(prefix)})
    assert len(labels) == 2, labels
    for label in labels:
        assert columns(label) <= 16 and "~" in label, label


def test_containernet_cuts_names_and_commands_on_whole_characters(tool, containers):
    """CONTAINER (12 wide) for two long names, and COMM (10 wide) for a
    command named ESC[31mX\\abcdefgh: its escaped form, \\x1b[31mX\\\\abcdefgh,
    used to be cut to \\x1b[31mX\\ (half an escape)."""
    prefix, a_name, b_name = long_names()
    t = tool("containernet")
    fmt = "/tmp/\\033[31mX\\\\abcdefgh"      # printf: \033 is ESC, \\ one backslash
    shown, comms = [], []
    for name, port in ((a_name, 7981), (b_name, 7982)):
        containers.names.append(name)
        docker("run", "--name", name, "ctrace-test:latest", "sh", "-c",
               "f=\"$(printf '%s')\"; cp /usr/local/bin/tcpclient \"$f\" && "
               "\"$f\" 127.0.0.1 %d 1" % (fmt, port))
        line = t.wait_for(lambda l: isinstance(l, str) and ("127.0.0.1:%d" % port) in l,
                          what="refused connect to %d" % port)
        fields = line.split()
        shown.append(fields[0])
        comms.append(fields[2])
    assert_cut_apart(shown, [a_name, b_name], 12)
    for comm in comms:
        assert columns(comm) <= 10 and "~" in comm, comm
        head = comm[:comm.rindex("~")]
        assert "".join(escape_units(head)) == head                # no half escape
        assert "\\x1b[31mX\\\\abcdefgh".startswith(head), comm
    assert comms[0] == comms[1]                                   # the same command
