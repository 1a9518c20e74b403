"""containernet: unit tests of its pure logic, and integration tests against
real BPF and real Docker containers (loopback and test-created networks in
198.18.0.0/15 only)."""

import importlib.machinery
import importlib.util
import io
import os
import random
import shutil
import socket
import struct
import subprocess
import time

import pytest

from conftest import ROOT, docker, host_script, run_tool, unavailable, unique
from ctrace import addresses

integration = pytest.mark.integration


def load_tool():
    path = os.path.join(ROOT, "tools", "containernet")
    loader = importlib.machinery.SourceFileLoader("containernet_tool", path)
    spec = importlib.util.spec_from_loader("containernet_tool", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


cn = load_tool()


# -- unit tests (no BPF) -------------------------------------------------------

def test_format_addr():
    assert cn.format_addr(2, bytes([198, 18, 7, 2]) + bytes(12)) == "198.18.7.2"
    v6 = socket.inet_pton(socket.AF_INET6, "fd00::1")
    assert cn.format_addr(10, v6) == "fd00::1"
    mapped = socket.inet_pton(socket.AF_INET6, "::ffff:127.0.0.1")
    assert cn.format_addr(10, mapped) == "127.0.0.1"
    assert cn.format_endpoint("::1", 80) == "[::1]:80"
    assert cn.format_endpoint("10.0.0.1", 80) == "10.0.0.1:80"


def test_human_bytes_fits_five_columns():
    assert cn.human_bytes(0) == "0"
    assert cn.human_bytes(999) == "999"
    assert cn.human_bytes(100002) == "98K"
    for n in (1000, 10239, 10 ** 6, 10 ** 9, 10 ** 12, 2 ** 63):
        assert len(cn.human_bytes(n)) <= 5, n


def test_status_names():
    assert cn.status_of(cn.C.EV_FAIL, 111, 0) == "refused"
    assert cn.status_of(cn.C.EV_FAIL, 110, 0) == "timeout"
    assert cn.status_of(cn.C.EV_CLOSE, 0, cn.C.F_RESET) == "reset"
    assert cn.status_of(cn.C.EV_CLOSE, 0, 0) == "ok"


def test_port_macro():
    assert cn.port_macro([]) == "1"
    assert cn.port_macro([443, 80, 80]) == "((p) == 80 || (p) == 443)"


def hostile_dot():
    rows = [('we"ird\\name', "b\nc\x1b[31m", "tcp", 3, 1, 100000, 20),
            ("a", "198.18.0.9:53", "udp", 1, 0, 5, 0)]
    out = io.StringIO()
    cn.write_dot(out, rows, containers={'we"ird\\name', "a"})
    return out.getvalue()


def test_dot_quotes_hostile_names():
    text = hostile_dot()
    assert "\x1b" not in text and "\nc" not in text
    assert '"we\\"ird\\\\\\\\name"' in text
    assert text.startswith("digraph containernet {") and text.rstrip().endswith("}")


def test_dot_with_hostile_names_is_read_by_graphviz():
    if not shutil.which("dot"):
        unavailable("graphviz's dot is not installed (make test-deps)")
    r = subprocess.run(["dot", "-Tsvg"], input=hostile_dot(), capture_output=True, text=True)
    assert r.returncode == 0 and "</svg>" in r.stdout, r.stderr


@pytest.mark.parametrize("argv", [
    ["-P", "0"], ["-P", "70000"], ["-P", "http"], ["-s", "0"], ["-s", "-1"],
    ["-s", "nan"], ["-4", "-6"], ["--dot", "/nonexistent-dir/x.dot"],
    ["-d", "0"], ["--bogus"], ["-P"] + ["1", "-P"] * 17 + ["2"],
])
def test_bad_arguments_exit_2_with_one_line(argv):
    r = run_tool("containernet", *argv)
    assert r.returncode == 2, (argv, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr


def test_help_has_examples():
    r = run_tool("containernet", "-h")
    assert r.returncode == 0
    assert "examples:" in r.stdout and "containernet -s" in r.stdout


def _nlmsg(kind, body, seq=1):
    return struct.pack("=IHHII", 16 + len(body), kind, 0, seq, 0) + body


def _diag_msg(port, inode, family=socket.AF_INET):
    # family, state (LISTEN), timer, retrans; sockid: sport, dport (big-endian),
    # src, dst, if, cookie; expires, rqueue, wqueue, uid, inode
    return (struct.pack("=BBBB", family, 10, 0, 0) + struct.pack("!HH", port, 0) + bytes(44)
            + struct.pack("=IIIII", 0, 0, 128, 0, inode))


def test_sock_diag_request_asks_for_tcp_listeners_of_one_family():
    req = addresses.diag_request(socket.AF_INET6, 7)
    length, kind, flags, seq, _ = struct.unpack_from("=IHHII", req)
    assert (length, kind, seq) == (len(req), 20, 7) and length == 16 + 56
    assert flags == 0x1 | 0x300                         # a request, a dump
    family, proto, _ext, _pad, states = struct.unpack_from("=BBBBI", req, 16)
    assert (family, proto, states) == (socket.AF_INET6, socket.IPPROTO_TCP, 1 << 10)


def test_sock_diag_replies_give_port_and_inode_then_done():
    data = _nlmsg(20, _diag_msg(8080, 4242)) + _nlmsg(20, _diag_msg(53, 7)) + _nlmsg(3, bytes(4))
    assert list(addresses.diag_replies(data)) == [(8080, 4242), (53, 7), True]
    # a message cut short ends the batch; the rest comes with the next read
    assert list(addresses.diag_replies(data[:30])) == []


def test_sock_diag_error_is_an_oserror():
    with pytest.raises(OSError) as err:
        list(addresses.diag_replies(_nlmsg(2, struct.pack("=i", -1) + bytes(16))))
    assert err.value.errno == 1


# -- integration -----------------------------------------------------------------
@integration
def test_listeners_come_from_sock_diag_not_every_socket(docker_ok, containers):
    """A container's listener, found by the kernel's sock_diag in its network
    namespace (not by reading every socket it has: here 2,000 in TIME_WAIT),
    with the inode /proc gives it."""
    name = containers.run("tcpserver", "7990", "100000")
    deadline = time.monotonic() + 30
    while "listening" not in docker("logs", name).stdout:
        assert time.monotonic() < deadline, "tcpserver never listened"
        time.sleep(0.02)
    assert "connected=2000 " in containers.exec(name, "tcpclient", "127.0.0.1", "7990",
                                                "2000").stdout
    pid = int(docker("inspect", "-f", "{{.State.Pid}}", name).stdout.strip())
    sockets = addresses.netns_diag_sockets([pid, os.getpid()])
    found = addresses.diag_listeners(sockets[pid])
    assert [p for p in found if p[0] == 7990] == \
        [p for p in addresses.proc_listening_sockets(pid) if p[0] == 7990]
    assert len([p for p in found if p[0] == 7990]) == 1
    # the host's namespace, from the same thread: not the container's listener
    assert 7990 not in [p[0] for p in addresses.diag_listeners(sockets[os.getpid()])]
    assert addresses.listening_sockets(pid, addresses.netns_diag_sockets([pid])[pid]) == found



def make_network(containers):
    """A fresh bridge network on a /24 inside 198.18.0.0/15."""
    last = None
    for _ in range(20):
        subnet = "198.%d.%d.0/24" % (random.choice((18, 19)), random.randint(1, 254))
        try:
            return containers.network(subnet)
        except AssertionError as exc:       # overlaps a network in use: try another
            last = exc
    raise last


def container_ip(name, network):
    return docker("inspect", "-f",
                  "{{(index .NetworkSettings.Networks \"%s\").IPAddress}}" % network,
                  name).stdout.strip()


def wait_listening(name, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = docker("logs", name, check=False)
        if "listening" in r.stdout:
            return
        if docker("inspect", "-f", "{{.State.Running}}", name).stdout.strip() != "true":
            break
        time.sleep(0.05)        # polling interval of a readiness check, not a sync
    raise AssertionError("%s never printed 'listening': %s" % (name, r.stdout + r.stderr))


def events(t, kind, container=None):
    return [e for e in t.json_events() if e.get("event") == kind and
            (container is None or e.get("container_name") == container)]


def server_client(containers, port, count, nbytes=0, opts_client=None):
    net = make_network(containers)
    server = containers.run("tcpserver", str(port), str(count), opts=["--network", net])
    wait_listening(server)
    ip = container_ip(server, net)
    client = unique("ctcli")
    containers.names.append(client)
    return net, server, ip, client


@integration
def test_connect_and_accept_attributed_to_each_container_naming_the_other(tool, containers):
    t = tool("containernet", "-j")
    net, server, ip, client = server_client(containers, 7000, 1)
    r = docker("run", "--name", client, "--network", net, "ctrace-test:latest",
               "tcpclient", ip, "7000", "1", "100")
    assert "connected=1" in r.stdout, r.stdout + r.stderr
    conn = t.wait_for(lambda e: e["event"] == "connect" and e["container_name"] == client,
                      what="client connect")
    acc = t.wait_for(lambda e: e["event"] == "accept" and e["container_name"] == server,
                     what="server accept")
    assert conn["direction"] == "out" and acc["direction"] == "in"
    assert conn["remote_addr"] == ip and conn["remote_port"] == 7000
    assert conn["comm"] == "tcpclient" and acc["comm"] == "tcpserver"
    assert conn["peer_container_name"] == server
    assert acc["peer_container_name"] == client
    assert acc["local_port"] == 7000 and acc["remote_port"] == conn["local_port"]
    assert conn["host"] is False and acc["host"] is False
    # The closes (softirq on both sides) keep the owners and the peers.
    for who, other in ((client, server), (server, client)):
        ev = t.wait_for(lambda e: e["event"] == "close" and e["container_name"] == who,
                        what="close in %s" % who)
        assert ev["peer_container_name"] == other
    # Nothing of this connection is attributed to the host or another container.
    for e in t.json_events():
        if e.get("remote_port") == 7000 or e.get("local_port") == 7000:
            assert e["container_name"] in (client, server), e


@integration
def test_bytes_sent_and_received(tool, containers):
    t = tool("containernet", "-j", "-P", "7001")
    net, server, ip, client = server_client(containers, 7001, 1)
    r = docker("run", "--name", client, "--network", net, "ctrace-test:latest",
               "tcpclient", ip, "7001", "1", "100000")
    assert "sent=100000" in r.stdout, r.stdout + r.stderr
    cclose = t.wait_for(lambda e: e["event"] == "close" and e["container_name"] == client)
    sclose = t.wait_for(lambda e: e["event"] == "close" and e["container_name"] == server)
    assert cclose["tx_bytes"] >= 100000
    assert sclose["rx_bytes"] >= 100000
    assert cclose["tx_bytes"] < 100000 + 100 and sclose["rx_bytes"] < 100000 + 100
    assert cclose["duration_ms"] >= 0 and cclose["status"] == "ok"


@integration
def test_shared_network_namespace_each_side_own_container(tool, containers):
    t = tool("containernet", "-j")
    a = containers.run("tcpserver", "7100", "1")
    wait_listening(a)
    b = unique("ctcli")
    containers.names.append(b)
    r = docker("run", "--name", b, "--network", "container:" + a, "ctrace-test:latest",
               "tcpclient", "127.0.0.1", "7100", "1", "10")
    assert "connected=1" in r.stdout, r.stdout + r.stderr
    conn = t.wait_for(lambda e: e["event"] == "connect" and e["remote_port"] == 7100,
                      what="connect to 7100")
    acc = t.wait_for(lambda e: e["event"] == "accept" and e["local_port"] == 7100,
                     what="accept on 7100")
    assert conn["container_name"] == b and acc["container_name"] == a
    assert conn["netns"] == acc["netns"]
    assert acc["peer_container_name"] == b
    assert conn["remote_addr"] == "127.0.0.1"
    for who in (a, b):
        t.wait_for(lambda e: e["event"] == "close" and e["container_name"] == who)
    for e in t.json_events():
        if 7100 in (e.get("local_port"), e.get("remote_port")):
            assert e["container_name"] in (a, b) and not e["host"], e
            assert (e["container_name"] == a) == (e["direction"] == "in"), e


@integration
def test_connect_to_closed_port_is_refused(tool, containers):
    t = tool("containernet", "-j")
    name = unique("ctcli")
    containers.names.append(name)
    r = docker("run", "--name", name, "ctrace-test:latest", "tcpclient", "127.0.0.1", "7999", "1")
    assert "failed=1" in r.stdout, r.stdout + r.stderr
    ev = t.wait_for(lambda e: e["event"] == "failed" and e["container_name"] == name,
                    what="refused connect")
    assert ev["status"] == "refused" and ev["error"] == "ECONNREFUSED"
    assert ev["remote_port"] == 7999 and ev["direction"] == "out"
    text = tool("containernet")
    r = docker("run", "--rm", "ctrace-test:latest", "tcpclient", "127.0.0.1", "7998", "1")
    line = text.wait_for(lambda l: isinstance(l, str) and ":7998" in l, what="table line")
    assert " refused " in line


@integration
def test_summary_counts_exactly_n_connections(tool, containers):
    n = 7
    t = tool("containernet", "-j", "-s", "0.5")
    net, server, ip, client = server_client(containers, 7200, n)
    # Two refused connects to a closed port of the server, then N connections.
    r = docker("run", "--name", client, "--network", net, "ctrace-test:latest", "sh", "-c",
               "tcpclient %s 7201 2; tcpclient %s 7200 %d 1000" % (ip, ip, n))
    assert "connected=0 failed=2" in r.stdout, r.stdout + r.stderr
    assert "connected=%d" % n in r.stdout, r.stdout + r.stderr

    def row(e):
        for rw in e.get("rows", []):
            if rw["client"] == client and rw["server"] == server:
                return rw
        return None
    t.wait_for(lambda e: e["event"] == "summary" and row(e) and
               row(e)["connections"] >= n and row(e)["tx_bytes"] >= n * 1000,
               what="summary row with %d connections" % n)
    assert t.stop() == 0
    final = [e for e in t.json_events() if e.get("event") == "summary"][-1]
    rw = row(final)
    assert rw["connections"] == n and rw["failed"] == 2 and rw["proto"] == "tcp"
    assert n * 1000 <= rw["tx_bytes"] < n * 1000 + n * 10
    assert rw["rx_bytes"] >= n * 3          # "ok\n" per connection
    # Counted once: no reverse row, no row pairing either end with the host
    # (the server's accept runs in softirq: attributing it to the task
    # there would).  Other containers on this machine may have rows of
    # their own: only rows naming these two are looked at.
    rows = [other for e in t.json_events() for other in e.get("rows", [])
            if {client, server} & {other["client"], other["server"]}]
    assert rows
    for other in rows:
        assert not (other["client"] == server and other["server"] == client), other
        assert "host" not in (other["client"], other["server"]), other


@integration
def test_dot_graph_is_valid_with_an_edge(tool, containers, tmp_path):
    path = tmp_path / "net.dot"
    t = tool("containernet", "-s", "0.5", "--dot", str(path))
    net, server, ip, client = server_client(containers, 7300, 2)
    docker("run", "--name", client, "--network", net, "ctrace-test:latest",
           "tcpclient", ip, "7300", "2", "10")
    edge = '"%s" -> "%s"' % (client, server)
    t.wait_for(lambda l: isinstance(l, str) and l.startswith(client) and server in l,
               what="summary line")
    assert t.stop() == 0
    text = path.read_text()
    assert edge in text, text
    r = subprocess.run(["dot", "-Tsvg", str(path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "<svg" in r.stdout


def host_connection(port_holder):
    """One loopback TCP connection made by this (host) process; returns the
    server port."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    c = socket.create_connection(("127.0.0.1", port), timeout=5)
    s, _ = srv.accept()
    c.sendall(b"x" * 10)
    c.close()
    s.recv(100)
    s.close()
    srv.close()
    port_holder.append(port)
    return port


@integration
def test_host_connections_only_with_host(tool, containers):
    default = tool("containernet", "-j")
    with_host = tool("containernet", "-j", "--host")
    ports = []
    port = host_connection(ports)
    ev = with_host.wait_for(lambda e: e["event"] == "connect" and e["remote_port"] == port,
                            what="host connect with --host")
    assert ev["host"] is True and ev["container"] == "host"
    with_host.wait_for(lambda e: e["event"] == "accept" and e["local_port"] == port)
    # The default run sees a container connection made after the host one.
    name = unique("ctcli")
    containers.names.append(name)
    docker("run", "--name", name, "ctrace-test:latest", "tcpclient", "127.0.0.1", "7997", "1")
    default.wait_for(lambda e: e["event"] == "failed" and e["container_name"] == name)
    assert default.stop() == 0, default.err
    assert not [e for e in default.json_events()
                if port in (e.get("local_port"), e.get("remote_port"))]
    assert not [e for e in default.json_events() if e.get("host")]


@integration
def test_port_filter(tool, containers):
    t = tool("containernet", "-j", "-P", "7401")
    name = unique("ctcli")
    containers.names.append(name)
    docker("run", "--name", name, "ctrace-test:latest", "sh", "-c",
           "tcpclient 127.0.0.1 7400 1; tcpclient 127.0.0.1 7401 1")
    t.wait_for(lambda e: e["event"] == "failed" and e["remote_port"] == 7401)
    assert t.stop() == 0, t.err
    assert not [e for e in t.json_events() if e.get("remote_port") == 7400]


@integration
def test_listen_and_ipv6(tool, containers):
    t = tool("containernet", "-j", "--listen", "-6")
    a = containers.run("tcpserver", "-6", "7500",
                       opts=["--sysctl", "net.ipv6.conf.all.disable_ipv6=0",
                             "--sysctl", "net.ipv6.conf.lo.disable_ipv6=0"])
    wait_listening(a)
    t.wait_for(lambda e: e["event"] == "listen" and e["container_name"] == a and
               e["local_port"] == 7500, what="listen event")
    b = unique("ctcli")
    containers.names.append(b)
    docker("run", "--name", b, "--network", "container:" + a, "ctrace-test:latest",
           "tcpclient", "::1", "7500", "1", "5")
    conn = t.wait_for(lambda e: e["event"] == "connect" and e["container_name"] == b)
    assert conn["family"] == 6 and conn["remote_addr"] == "::1"
    assert conn["peer_container_name"] == a
    acc = t.wait_for(lambda e: e["event"] == "accept" and e["container_name"] == a)
    assert acc["remote_addr"] == "::1" and acc["peer_container_name"] == b
    # -6: nothing IPv4 is reported.
    c = unique("ctcli")
    containers.names.append(c)
    docker("run", "--name", c, "ctrace-test:latest", "tcpclient", "127.0.0.1", "7501", "1")
    docker("run", "--rm", "--network", "container:" + a, "ctrace-test:latest",
           "tcpclient", "::1", "7502", "1")
    t.wait_for(lambda e: e["event"] == "failed" and e["remote_port"] == 7502)
    assert not [e for e in t.json_events() if e.get("family") == 4]


@integration
def test_table_is_narrow_and_escaped(tool, containers):
    t = tool("containernet")
    name = unique("ctcli")
    containers.names.append(name)
    docker("run", "--name", name, "ctrace-test:latest", "tcpclient", "127.0.0.1", "7996", "1")
    line = t.wait_for(lambda l: isinstance(l, str) and ":7996" in l)
    assert len(line) < 80 and len(t.lines[0]) < 80
    assert not any(ord(c) < 0x20 for l in t.lines for c in l)


@integration
def test_summary_counts_udp_dns_queries(tool, containers):
    t = tool("containernet", "-j", "-s", "0.5")
    name = unique("ctdns")
    containers.names.append(name)
    # The resolver is loopback inside the container: nothing answers, the
    # queries are still sent (sendto/sendmmsg) and counted.
    r = docker("run", "--name", name, "--dns", "127.0.0.1", "ctrace-test:latest",
               "tcpclient", "name.invalid", "7000", "1", check=False)
    assert "resolve name.invalid" in r.stderr, r.stdout + r.stderr

    def row(e):
        for rw in e.get("rows", []):
            if rw["client"] == name and rw["proto"] == "udp" and \
                    rw["server"] == "127.0.0.1:53":
                return rw
        return None
    ev = t.wait_for(lambda e: e["event"] == "summary" and row(e), what="udp row")
    rw = row(ev)
    assert rw["connections"] >= 1 and rw["tx_bytes"] >= 12 * rw["connections"]


# A host process's UDP sends through the three calls, after the tool is
# ready: sendto() 1 datagram, sendmsg() 1, sendmmsg() 3 (ctypes: Python has
# no sendmmsg), each to its own port of 127.0.0.1 (nothing need listen).
UDP_SENDER = r"""
import ctypes, socket, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
ports = [int(p) for p in sys.argv[1:4]]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sys.stdin.readline()
s.sendto(b"x" * 10, ("127.0.0.1", ports[0]))
s.sendmsg([b"y" * 20], [], 0, ("127.0.0.1", ports[1]))
class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_char_p), ("len", ctypes.c_size_t)]
class msghdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32),
                ("iov", ctypes.POINTER(iovec)), ("iovlen", ctypes.c_size_t),
                ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]
class mmsghdr(ctypes.Structure):
    _fields_ = [("hdr", msghdr), ("len", ctypes.c_uint32)]
# struct sockaddr_in: the family in host order, the port in network order
addr = ctypes.create_string_buffer(struct.pack("=H", socket.AF_INET)
                                   + struct.pack("!H", ports[2])
                                   + socket.inet_aton("127.0.0.1") + bytes(8), 16)
payload = ctypes.create_string_buffer(b"z" * 30)
iov = iovec(ctypes.cast(payload, ctypes.c_char_p), 30)
vec = (mmsghdr * 3)()
for m in vec:
    m.hdr = msghdr(ctypes.addressof(addr), 16, ctypes.pointer(iov), 1, None, 0, 0)
assert libc.sendmmsg(s.fileno(), vec, 3, 0) == 3, ctypes.get_errno()
print("sent", flush=True)
"""


@integration
def test_summary_counts_each_udp_send_call(bpf_ok):
    """-s: datagrams and bytes of sendto, sendmsg and sendmmsg (each of its
    messages singly), their destinations read through the pointers in the
    task's saved registers at the calls' exits."""
    ports = [str(7800 + random.randrange(100) * 3 + i) for i in range(3)]
    with host_script(UDP_SENDER, "containernet", "-j", "-s", "0.5", argv=ports) as (t, go):
        assert go() == "sent"

        def rows(e):
            got = {rw["server"]: rw for rw in e.get("rows", []) if rw["proto"] == "udp"}
            return got if all("127.0.0.1:" + p in got for p in ports) else None
        ev = t.wait_for(lambda e: e["event"] == "summary" and rows(e), what="udp rows")
        got = rows(ev)
        assert [(got["127.0.0.1:" + p]["connections"], got["127.0.0.1:" + p]["tx_bytes"])
                for p in ports] == [(1, 10), (1, 20), (3, 90)]


@integration
def test_summary_rows_without_room_are_counted_lost(bpf_ok):
    """-s: a datagram whose row finds the kernel's table (16384 rows) full
    is a lost event, said as such, not dropped silently."""
    extra = 150
    sender = ("import socket, sys\n"
              "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
              "sys.stdin.readline()\n"
              "for port in range(20000, 20000 + 16384 + %d):\n"
              "    s.sendto(b'x', ('127.0.0.1', port))\n"
              "print('sent', flush=True)\n"
              "sys.stdin.readline()\n" % extra)
    with host_script(sender, "containernet", "-s") as (t, go):
        assert go() == "sent"                   # counted at each call's exit
        assert t.stop() == 0, t.err
        final = [l for l in t.err if "events lost (ring buffer or summary table full)" in l]
        assert final == ["containernet: %d events lost (ring buffer or summary table full)"
                         % extra], t.err


@integration
def test_container_filter(tool, containers):
    a = containers.run("sleep", "600")
    b = containers.run("sleep", "600")
    t = tool("containernet", "-j", "-c", a)
    containers.exec(b, "tcpclient", "127.0.0.1", "7601", "1")
    containers.exec(a, "tcpclient", "127.0.0.1", "7602", "1")
    t.wait_for(lambda e: e["event"] == "failed" and e["remote_port"] == 7602)
    assert t.stop() == 0, t.err
    assert {e["container_name"] for e in t.json_events() if e.get("event") == "failed"} == {a}


@integration
def test_ebpf_prints_the_program(bpf_ok):
    r = run_tool("containernet", "--ebpf", "-s", "-P", "53")
    assert r.returncode == 0, r.stderr
    assert "inet_sock_set_state" in r.stdout and "NET_SUMMARY 1" in r.stdout


@integration
def test_received_reset_is_reported(tool):
    """A host connection (with --host) whose server aborts with SO_LINGER 0:
    the client's close says reset."""
    import struct
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    t = tool("containernet", "-j", "--host", "-P", port)
    c = socket.create_connection(("127.0.0.1", port), timeout=5)
    s, _ = srv.accept()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    with pytest.raises(ConnectionResetError):
        c.recv(10)
    c.close()
    srv.close()
    ev = t.wait_for(lambda e: e["event"] == "close" and e["direction"] == "out" and
                    e["remote_port"] == port, what="client close")
    assert ev["status"] == "reset" and ev["host"] is True


@integration
def test_dual_stack_server_counted_once(tool, containers):
    """An IPv6 [::] server accepting IPv4 clients sees them as ::ffff:a.b.c.d;
    the ends are still matched (the connection counted once, by its client)."""
    n = 3
    t = tool("containernet", "-j", "-s", "0.5")
    net = make_network(containers)
    server = containers.run("tcpserver", "-6", "7650", str(n), opts=["--network", net])
    wait_listening(server)
    ip = container_ip(server, net)
    client = unique("ctcli")
    containers.names.append(client)
    docker("run", "--name", client, "--network", net, "ctrace-test:latest",
           "tcpclient", ip, "7650", str(n), "100")

    def row(e, c, s):
        return next((r for r in e.get("rows", []) if r["client"] == c and r["server"] == s),
                    None)
    t.wait_for(lambda e: e["event"] == "summary" and row(e, client, server) and
               row(e, client, server)["tx_bytes"] >= n * 100, what="pair row")
    assert t.stop() == 0
    final = [e for e in t.json_events() if e.get("event") == "summary"][-1]
    assert row(final, client, server)["connections"] == n
    # Counted once, by the client: every row that names either end is the
    # client -> server pair.  An unmatched accept (the server seeing
    # ::ffff:a.b.c.d) would add a row with the server and the client's
    # address, or the server as a client.
    rows = [r for e in t.json_events() for r in e.get("rows", [])
            if {client, server} & {r["client"], r["server"]}]
    assert rows
    for r in rows:
        assert (r["client"], r["server"]) == (client, server), r


@integration
def test_summary_table_is_narrow(tool, containers):
    name = unique("ctcli")
    containers.names.append(name)
    t = tool("containernet", "-s", "0.3")
    docker("run", "--name", name, "ctrace-test:latest", "tcpclient", "127.0.0.1", "7995", "2")
    line = t.wait_for(lambda l: isinstance(l, str) and l.startswith(name), what="row")
    assert " tcp " in line and "127.0.0.1:7995" in line
    assert all(len(l) < 80 for l in t.lines), [l for l in t.lines if len(l) >= 80]


def dual_stack_network(containers):
    """A fresh bridge network with IPv4 (198.18.0.0/15) and a ULA IPv6
    subnet of its own."""
    for _ in range(20):
        third = random.randint(1, 254)
        name = unique("ctnet6")
        r = docker("network", "create", "--ipv6", "--subnet", "198.19.%d.0/24" % third,
                   "--subnet", "fd00:c7:%x::/64" % third, name, check=False)
        if r.returncode == 0:
            containers.networks.append(name)
            return name
    raise AssertionError("no free subnet for a dual-stack network: %s" % r.stderr)


@integration
def test_ipv6_between_containers_and_ipv4_only(tool, containers):
    t = tool("containernet", "-j", "-P", "7801")
    v4 = tool("containernet", "-j", "-4", "-P", "7801", "-P", "7802")
    net = dual_stack_network(containers)
    server = containers.run("tcpserver", "-6", "7801", "1", opts=["--network", net])
    wait_listening(server)
    ip = docker("inspect", "-f", "{{(index .NetworkSettings.Networks \"%s\").GlobalIPv6Address}}"
                % net, server).stdout.strip()
    assert ":" in ip, ip
    client = unique("ctcli")
    containers.names.append(client)
    r = docker("run", "--name", client, "--network", net, "ctrace-test:latest",
               "tcpclient", ip, "7801", "1", "10")
    assert "connected=1" in r.stdout, r.stdout + r.stderr
    conn = t.wait_for(lambda e: e["event"] == "connect" and e["container_name"] == client)
    assert conn["family"] == 6 and conn["remote_addr"] == ip
    assert conn["peer_container_name"] == server
    acc = t.wait_for(lambda e: e["event"] == "accept" and e["container_name"] == server)
    assert acc["family"] == 6 and acc["peer_container_name"] == client
    # -4: an IPv4 connect made after it is shown, the IPv6 connection is not.
    docker("run", "--rm", "ctrace-test:latest", "tcpclient", "127.0.0.1", "7802", "1")
    v4.wait_for(lambda e: e["event"] == "failed" and e["remote_port"] == 7802,
                what="the later IPv4 connect")
    assert {e.get("family") for e in v4.json_events() if "family" in e} == {4}


@integration
@pytest.mark.parametrize("reader", ["ctrace", "libbpf"])
def test_wide_line_has_peer_and_exact_bytes(tool, containers, reader):
    """The table's lines from records unpacked a batch at a time
    (ctrace.ringbuf), and one at a time by BCC's reader, which reads the
    ring off x86 (CTRACE_LIBBPF_RINGS=1 here)."""
    env = {"CTRACE_LIBBPF_RINGS": "1"} if reader == "libbpf" else None
    port = 7803 if reader == "ctrace" else 7804
    t = tool("containernet", "-w", "-P", str(port), env=env)
    net, server, ip, client = server_client(containers, port, 1)
    r = docker("run", "--name", client, "--network", net, "ctrace-test:latest",
               "tcpclient", ip, str(port), "1", "123457")
    assert "sent=123457" in r.stdout, r.stdout + r.stderr
    line = t.wait_for(lambda l: isinstance(l, str) and l.startswith(client) and " close " in l,
                      what="the client's close line")
    fields = line.split()
    assert fields[3:5] == ["out", "close"] and fields[6] == "%s:%d" % (ip, port), line
    assert fields[7] == server, line                        # the peer column
    tx = int(fields[8])                                     # exact, not 121K
    assert 123457 <= tx < 123457 + 100, line
    line = t.wait_for(lambda l: isinstance(l, str) and l.startswith(server) and " close " in l,
                      what="the server's close line")
    fields = line.split()
    assert fields[3:5] == ["in", "close"] and fields[5] == "%s:%d" % (ip, port), line
    assert fields[7] == client and 123457 <= int(fields[9]) < 123457 + 100, line
    connects = [l.split() for l in t.lines if isinstance(l, str) and l.startswith(client)
                and " connect " in l]
    assert [(f[6], f[7]) for f in connects] == [("%s:%d" % (ip, port), server)], t.lines


@integration
def test_connect_that_times_out(tool, containers):
    """SYNs to an address on the test's own network that nobody answers
    (a permanent neighbour entry to no one), one retry: ETIMEDOUT."""
    t = tool("containernet", "-j", "-P", "7804")
    net = make_network(containers)
    sub = docker("network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}", net)
    silent = sub.stdout.strip().rsplit(".", 1)[0] + ".250"
    name = unique("ctcli")
    containers.names.append(name)
    r = docker("run", "--name", name, "--network", net, "--cap-add", "NET_ADMIN",
               "--sysctl", "net.ipv4.tcp_syn_retries=1", "ctrace-test:latest", "sh", "-c",
               "arp -s %s 02:00:00:00:00:01 && tcpclient %s 7804 1" % (silent, silent))
    assert "ETIMEDOUT" in r.stderr, r.stdout + r.stderr
    ev = t.wait_for(lambda e: e["event"] == "failed" and e["container_name"] == name,
                    what="the timed-out connect")
    assert ev["status"] == "timeout" and ev["error"] == "ETIMEDOUT"
    assert ev["remote_addr"] == silent and ev["remote_port"] == 7804


# N datagrams of 100 bytes sent with sendmsg(2) to 127.0.0.1:PORT.
UDP_SENDMSG = r"""
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
int main(int argc, char **argv)
{
    char data[100];
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[1])) };
    struct iovec iov = { data, sizeof(data) };
    struct msghdr msg = { .msg_name = &to, .msg_namelen = sizeof(to),
                          .msg_iov = &iov, .msg_iovlen = 1 };
    int fd = socket(AF_INET, SOCK_DGRAM, 0), i, sent = 0;
    memset(data, 'u', sizeof(data));
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    for (i = 0; i < atoi(argv[2]); i++)
        sent += sendmsg(fd, &msg, 0) == sizeof(data);
    return sent == atoi(argv[2]) ? 0 : 1;
}
"""


@integration
def test_udp_sent_with_sendmsg_is_counted(tool, containers, tmp_path):
    src = tmp_path / "udpsendmsg.c"
    src.write_text(UDP_SENDMSG)
    exe = str(tmp_path / "udpsendmsg")
    r = subprocess.run(["gcc", "-O2", "-static", "-Wall", "-o", exe, str(src)],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        unavailable("building the sendmsg helper failed: %s" % r.stderr[-300:])
    name = containers.run("sleep", "600", opts=["-v", exe + ":/udpsendmsg:ro"])
    t = tool("containernet", "-j", "-s", "3600", "-c", name)
    containers.exec(name, "/udpsendmsg", "7805", "7")
    assert t.stop() == 0, t.err
    rows = [r for r in [e for e in t.json_events() if e["event"] == "summary"][-1]["rows"]
            if r["proto"] == "udp" and r["server"] == "127.0.0.1:7805"]
    assert len(rows) == 1, rows
    assert rows[0]["client"] == name
    assert rows[0]["connections"] == 7 and rows[0]["tx_bytes"] == 700
