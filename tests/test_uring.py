"""io_uring (issue 18): operations that no syscall tracepoint sees, done by
the test image's static client (tests/image/src/uring.c) in real Docker
containers, traced by the real tools: inline, in io workers (-a,
IOSQE_ASYNC), by a polling thread (-q, IORING_SETUP_SQPOLL) and with fixed
files (-f)."""

import re

import pytest

pytestmark = pytest.mark.integration

MODES = {"inline": [], "async": ["-a"], "sqpoll": ["-q"], "fixed": ["-f"],
         "sqpoll-fixed": ["-q", "-f"]}
FIXED_SLOT = 2          # the client's direct descriptor slot (uring.c)


def uring(containers, name, *args, check=True):
    """Run the client in container NAME: {operation: result} from its lines
    ("open res=3", "open res=-2 ENOENT")."""
    r = containers.exec(name, "uring", *args, check=False)
    if check:
        assert r.returncode == 0, (args, r.stdout, r.stderr)
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+) res=(-?\d+)", r.stdout, re.M)}


def uring_opens(t, name, path):
    return [e for e in t.json_events() if e.get("event") == "open" and
            e.get("via") == "io_uring" and e["container_name"] == name and e["path"] == path]


# -- containeropen ------------------------------------------------------------

@pytest.mark.parametrize("mode", list(MODES))
def test_containeropen_shows_io_uring_opens_in_every_mode(tool, containers, mode):
    name = containers.run("sleep", "600")
    tj = tool("containeropen", "-j", "-c", name)
    tt = tool("containeropen", "-c", name)
    tn = tool("containeropen", "-j", "-n", "uring", "-c", name)    # -n: the process's name
    res = uring(containers, name, *MODES[mode], "open", "/etc/hostname")
    ev = tj.wait_for(lambda e: e["event"] == "open" and e["path"] == "/etc/hostname",
                     what="io_uring open (%s)" % mode)
    assert ev["via"] == "io_uring" and ev["io_uring_op"] == "OPENAT" and ev["syscall"] is None
    assert ev["container_name"] == name and ev["host"] is False
    # Workers and pollers are named by their process, never iou-wrk/iou-sqp.
    assert ev["comm"] == "uring"
    if "-q" in MODES[mode]:
        # Submitted by the polling thread: a thread of the process (its
        # tgid, cgroup and namespaces), not the process's main thread.
        assert ev["tid"] != ev["pid"]
    assert ev["retval"] == res["open"] and ev["error"] is None
    assert ev["flags_decoded"].startswith("O_RDONLY")
    if "-f" in MODES[mode]:
        assert ev["fixed_slot"] == FIXED_SLOT and ev["fd"] is None and ev["retval"] == 0
        mark = "iou#%d" % FIXED_SLOT
    else:
        assert ev["fixed_slot"] is None and ev["fd"] == res["open"] >= 0
        mark = "iou:%d" % ev["fd"]
    line = tt.wait_for(lambda l: isinstance(l, str) and l.endswith(" /etc/hostname"),
                       what="table line")
    assert line.split()[3:] == ["uring", mark, "/etc/hostname"] and len(line) < 80
    assert len(uring_opens(tj, name, "/etc/hostname")) == 1, "one open, one event"
    tn.wait_for(lambda e: e["event"] == "open" and e["path"] == "/etc/hostname",
                what="the same open with -n uring")


def test_containeropen_io_uring_failure_write_intent_and_x(tool, containers):
    name = containers.run("sleep", "600")
    t = tool("containeropen", "-j", "-c", name)
    tx = tool("containeropen", "-j", "-x", "-c", name)
    res = uring(containers, name, "-a", "open", "/no/such/file", check=False)
    assert res["open"] == -2
    ev = t.wait_for(lambda e: e["event"] == "open" and e["path"] == "/no/such/file",
                    what="failed io_uring open")
    assert ev["via"] == "io_uring" and ev["error"] == "ENOENT" and ev["retval"] == -2
    assert ev["fd"] is None and ev["container_name"] == name
    # Write intent on a file that exists (Docker's bind-mounted hostname):
    # never created, never written.
    uring(containers, name, "open", "/etc/hostname", "w")
    ev = t.wait_for(lambda e: e["event"] == "open" and e["path"] == "/etc/hostname",
                    what="io_uring write-open")
    assert ev["flags_decoded"].startswith("O_WRONLY") and ev["retval"] >= 0
    tx.wait_for(lambda e: e["event"] == "open" and e["path"] == "/no/such/file")
    assert all(e["retval"] < 0 for e in tx.json_events() if e.get("event") == "open")


def test_containeropen_io_uring_full_path_and_summary(tool, containers):
    name = containers.run("sleep", "600")
    tf = tool("containeropen", "-j", "-F", "-c", name)
    ts = tool("containeropen", "-j", "-s", "0.5", "-c", name)
    containers.exec(name, "sh", "-c", "cd /etc && uring -q open hostname")
    ev = tf.wait_for(lambda e: e["event"] == "open" and e["path"] == "hostname",
                     what="relative io_uring open")
    assert ev["via"] == "io_uring" and ev["full_path"] == "/etc/hostname"
    assert ev["full_path_complete"] is True
    r = containers.exec(name, "uring", "-n", "40", "open", "/etc/hostname")
    assert "ops=40 " in r.stdout

    def counted(obj):
        rows = [row for row in obj["rows"] if row["path"] == "/etc/hostname" and
                row["via"] == "io_uring" and row["container_name"] == name]
        return rows and rows[0]["opens"] == 40
    ts.wait_for(counted, what="40 io_uring opens counted in the kernel")


# -- containersyscall ----------------------------------------------------------

def test_containersyscall_counts_io_uring_operations_by_opcode(tool, containers):
    name = containers.run("sleep", "600")
    t = tool("containersyscall", "-j", "0.5", "-t", "0", "-e", "-c", name)
    uring(containers, name, "-q", "open", "/etc/hostname")
    uring(containers, name, "-a", "open", "/no/such/file", check=False)
    uring(containers, name, "udp", "127.0.0.1", "9")

    def totals():
        out = {}
        for obj in t.json_events():
            for row in obj.get("rows", ()):
                if row["container_name"] == name and row["syscall"].startswith("io_uring:"):
                    calls, errors = out.get(row["syscall"], (0, 0))
                    out[row["syscall"]] = (calls + row["calls"], errors + row["errors"])
        return out
    t.wait_for(lambda _l: totals().get("io_uring:SENDMSG") == (1, 0),
               what="the three operations counted")
    got = totals()
    assert got["io_uring:OPENAT"] == (2, 1) and got["io_uring:CLOSE"] == (1, 0), got
    failed = [r for o in t.json_events() for r in o.get("rows", ())
              if r["syscall"] == "io_uring:OPENAT" and r["errors"]]
    assert failed[0]["nr"] is None and failed[0]["top_errno"] == "ENOENT", failed
    assert t.stop() == 0
    # The table names them the same way (the calls that set the ring up are
    # system calls: counted as such).
    t2 = tool("containersyscall", "0.5", "-t", "0", "-c", name)
    uring(containers, name, "-f", "open", "/etc/hostname")
    line = t2.wait_for(lambda l: isinstance(l, str) and " io_uring:OPENAT " in l)
    assert line.split()[:3] == [name[:16], "io_uring:OPENAT", "1"], line


def test_containersyscall_seccomp_warns_about_io_uring(tool, containers, tmp_path):
    profile = str(tmp_path / "uring.json")
    name = containers.run("sleep", "600")
    t = tool("containersyscall", "-j", "--seccomp", profile, "-c", name)
    uring(containers, name, "open", "/etc/hostname")
    uring(containers, name, "udp", "127.0.0.1", "9")
    assert t.stop() == 0, "\n".join(t.err)
    warning = [l for l in t.err if "io_uring" in l and "warning" in l]
    assert len(warning) == 1 and "(CLOSE, OPENAT, SENDMSG)" in warning[0], t.err
    assert "does not filter io_uring" in warning[0]
    summary = [e for e in t.json_events() if e.get("event") == "seccomp"][0]
    assert summary["io_uring_ops"] == ["CLOSE", "OPENAT", "SENDMSG"]
    with open(profile) as f:
        text = f.read()
    assert "io_uring_setup" in text and "io_uring:" not in text and "OPENAT" not in text


# -- containernet ---------------------------------------------------------------

NET_MODES = {"inline": [], "async": ["-a"], "sqpoll": ["-q"], "fixed": ["-f"]}


@pytest.mark.parametrize("mode", list(NET_MODES))
def test_containernet_names_both_ends_of_an_io_uring_connection(tool, containers, mode):
    from test_containernet import container_ip, make_network, wait_listening
    t = tool("containernet", "-j")
    net = make_network(containers)
    flags = NET_MODES[mode]
    server = containers.run("uring", *flags, "accept", "7100", opts=["--network", net])
    wait_listening(server)
    ip = container_ip(server, net)
    client = containers.run("sleep", "600", opts=["--network", net])
    res = uring(containers, client, *flags, "connect", ip, "7100")
    assert res == {"connect": 0, "send": 5}, res
    conn = t.wait_for(lambda e: e["event"] == "connect" and e["container_name"] == client,
                      what="client connect (%s)" % mode)
    acc = t.wait_for(lambda e: e["event"] == "accept" and e["container_name"] == server,
                     what="server accept (%s)" % mode)
    assert conn["comm"] == "uring" and acc["comm"] == "uring"
    assert conn["remote_addr"] == ip and conn["remote_port"] == 7100
    assert conn["peer_container_name"] == server and acc["peer_container_name"] == client
    assert acc["local_port"] == 7100 and acc["remote_port"] == conn["local_port"]
    for who, other in ((client, server), (server, client)):
        ev = t.wait_for(lambda e: e["event"] == "close" and e["container_name"] == who,
                        what="close in %s" % who)
        assert ev["peer_container_name"] == other
    for e in t.json_events():
        if e.get("remote_port") == 7100 or e.get("local_port") == 7100:
            assert e["container_name"] in (client, server), e


@pytest.mark.parametrize("mode", ["inline", "sqpoll"])
def test_containernet_counts_udp_sent_through_io_uring(tool, containers, mode):
    t = tool("containernet", "-j", "-s", "0.5")
    name = containers.run("sleep", "600")
    for _ in range(3):
        uring(containers, name, *NET_MODES[mode], "udp", "127.0.0.1", "9")

    def row(e):
        for rw in e.get("rows", []):
            if rw["client"] == name and rw["proto"] == "udp" and rw["server"] == "127.0.0.1:9":
                return rw
        return None
    ev = t.wait_for(lambda e: e["event"] == "summary" and row(e) and row(e)["connections"] == 3,
                    what="3 datagrams counted")
    assert row(ev)["tx_bytes"] == 15


def test_containeropen_io_uring_open_without_completion(tool, containers):
    """IOSQE_CQE_SKIP_SUCCESS: a successful open posts no completion; it is
    still shown, at submit, its result unknown."""
    name = containers.run("sleep", "600")
    tj = tool("containeropen", "-j", "-c", name)
    tt = tool("containeropen", "-c", name)
    assert uring(containers, name, "-k", "-f", "open", "/etc/hostname") == {}
    ev = tj.wait_for(lambda e: e["event"] == "open" and e["path"] == "/etc/hostname",
                     what="open without completion")
    assert ev["via"] == "io_uring" and ev["retval"] is None and ev["fd"] is None
    assert ev["fixed_slot"] == FIXED_SLOT and ev["container_name"] == name
    line = tt.wait_for(lambda l: isinstance(l, str) and l.endswith(" /etc/hostname"))
    assert line.split()[3:] == ["uring", "iou:?", "/etc/hostname"]
