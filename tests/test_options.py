"""Options several tools share, for real: -T's time column, -p, -u and -n
keep what they say and drop the rest.  Each filter test makes the event
to drop before the one to keep (the ring buffer is in order), so once the
kept one is read the dropped one would have been too."""

import re
import time

import pytest

from conftest import docker, unique

pytestmark = pytest.mark.integration


def make_event(containers, tool_name, name, mark):
    """In running container NAME, an event TOOL_NAME prints with MARK in its
    table line."""
    if tool_name == "containerexec":
        containers.exec(name, "echo", mark)
    elif tool_name == "containeropen":
        containers.exec(name, "touch", "/tmp/" + mark)
    elif tool_name == "containernet":
        containers.exec(name, "tcpclient", "127.0.0.1", mark, "1")
    else:       # containerescape: a write-open of core_pattern, refused (ENOENT):
        # judged on the name as given, and nothing is created
        containers.exec(name, "sh", "-c", "(: >> /tmp/%s/core_pattern); true" % mark)


@pytest.mark.parametrize("tool_name", ["containerexec", "containeropen", "containernet",
                                       "containerescape"])
def test_timestamp_column(tool, containers, tool_name):
    name = containers.run("sleep", "600")
    t = tool(tool_name, "-T")
    mark = "7%03d" % (int(time.time() * 1000) % 1000) if tool_name == "containernet" \
        else unique("ts")
    make_event(containers, tool_name, name, mark)
    line = t.wait_for(lambda l: isinstance(l, str) and mark in l and name[:10] in l,
                      what="the line of %s" % mark)
    m = re.match(r"(\d\d):(\d\d):(\d\d) ", line)
    assert m, line
    shown = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3))
    now = time.localtime()
    now_s = now.tm_hour * 3600 + now.tm_min * 60 + now.tm_sec
    assert min((now_s - shown) % 86400, (shown - now_s) % 86400) <= 60, (line, now)
    assert t.lines[0].split()[0] == "TIME", t.lines[0]


def test_pid_filter_keeps_that_process_only(tool, containers):
    """Two containers' shells open a file in a loop; -p names one of them."""
    loop = "while :; do read x < /etc/hostname; sleep 0.1; done"
    a = containers.run("sh", "-c", loop)
    containers.run("sh", "-c", loop)
    pid = int(docker("inspect", "-f", "{{.State.Pid}}", a).stdout)
    t = tool("containeropen", "-j", "-p", pid)
    t.wait_for(lambda e: len([x for x in t.json_events() if x.get("event") == "open"]) >= 5,
               what="five opens")
    opens = [e for e in t.json_events() if e.get("event") == "open"]
    assert {(e["pid"], e["container_name"], e["path"]) for e in opens} == \
        {(pid, a, "/etc/hostname")}


def test_uid_filter_on_opens(tool, containers):
    name = containers.run("sleep", "600")
    t = tool("containeropen", "-j", "-u", "1234", "-c", name)
    containers.exec(name, "cat", "/etc/passwd")
    docker("exec", "-u", "1234", name, "cat", "/etc/hostname")
    ev = t.wait_for(lambda e: e["event"] == "open" and e["path"] == "/etc/hostname",
                    what="the open as uid 1234")
    assert ev["uid"] == 1234
    assert {e["uid"] for e in t.json_events() if e.get("event") == "open"} == {1234}


def test_comm_filter_on_connections(tool, containers):
    name = containers.run("sleep", "600")
    t = tool("containernet", "-j", "-n", "tcpclient", "-c", name)
    containers.exec(name, "sh", "-c", "cp /usr/local/bin/tcpclient /tmp/other && "
                    "/tmp/other 127.0.0.1 7701 1; tcpclient 127.0.0.1 7702 1")
    t.wait_for(lambda e: e["event"] == "failed" and e["remote_port"] == 7702,
               what="tcpclient's refused connect")
    assert {e["comm"] for e in t.json_events() if "comm" in e} == {"tcpclient"}
    assert not [e for e in t.json_events() if e.get("remote_port") == 7701]


def test_comm_filter_on_findings(tool, containers):
    name = containers.run("sleep", "600")
    t = tool("containerescape", "-j", "-n", "tee", "-c", name)
    containers.exec(name, "sh", "-c", "(: >> /tmp/none/core_pattern); "
                    "echo x | tee -a /tmp/none/core_pattern; true")
    ev = t.wait_for(lambda e: e["event"] == "finding" and e["comm"] == "tee",
                    what="tee's finding")
    assert ev["path"] == "/tmp/none/core_pattern" and ev["error"] == "ENOENT"
    assert {e["comm"] for e in t.json_events() if e.get("event") == "finding"} == {"tee"}
