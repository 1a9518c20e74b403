"""Formatting what containernet reports: addresses, byte counts, connection
status, its summary's container pairs and their Graphviz DOT graph (pure
logic, unit-tested)."""

import errno
import socket

from ctrace.addresses import is_loopback
from ctrace.bpf import header_constants
from ctrace.output import Memo, escape

C = header_constants("containernet.h", "NET_")
_V4MAPPED = bytes(10) + b"\xff\xff"


def format_addr(family, raw):
    """Address bytes from the kernel -> text; IPv4-mapped IPv6 as IPv4.
    Kept: a connection stream repeats a few addresses."""
    return _addrs[family, bytes(raw)]


def _addr_text(key):
    family, raw = key
    if family == C.AF_INET:
        return socket.inet_ntop(socket.AF_INET, raw[:4])
    if raw[:12] == _V4MAPPED:
        return socket.inet_ntop(socket.AF_INET, raw[12:16])
    return socket.inet_ntop(socket.AF_INET6, raw[:16])


_addrs = Memo(_addr_text, 8192)


def format_endpoint(addr, port):
    return ("[%s]:%d" % (addr, port)) if ":" in addr else "%s:%d" % (addr, port)


def human_bytes(n):
    """Bytes in at most 5 characters: 999, 97.7K, 1.2M, 34G."""
    if n < 1000:
        return str(n)
    for unit in ("K", "M", "G", "T", "P"):
        n /= 1024.0
        if n < 9.95:
            return "%.1f%s" % (n, unit)
        if n < 999.5:
            return "%d%s" % (round(n), unit)
    return "%dE" % round(n / 1024.0)


def status_of(ev_type, error, flags):
    """connect/accept/close -> 'ok' or what went wrong."""
    if ev_type == C.EV_FAIL:
        return {errno.ECONNREFUSED: "refused", errno.ETIMEDOUT: "timeout",
                errno.ECONNRESET: "reset", 0: "aborted"}.get(error, "failed")
    if ev_type == C.EV_CLOSE and (flags & C.F_RESET or error == errno.ECONNRESET):
        return "reset"
    if ev_type == C.EV_CLOSE and error == errno.ETIMEDOUT:
        return "timeout"
    return "ok"


def dot_quote(text):
    """A DOT double-quoted string: any name is safe inside."""
    text = escape(text)                  # no control characters at all
    return '"%s"' % text.replace("\\", "\\\\").replace('"', '\\"')


def write_dot(stream, rows, containers=()):
    """rows: (client, server, proto, count, fails, tx, rx). Containers are
    boxes, external peers ellipses; an edge per pair and protocol labelled
    with its traffic (TCP: connections; UDP: datagrams sent)."""
    containers = set(containers)
    nodes = []
    for r in rows:
        for n in r[:2]:
            if n not in nodes:
                nodes.append(n)
    stream.write("digraph containernet {\n")
    stream.write('  graph [rankdir=LR, label="containernet"];\n')
    for n in nodes:
        shape = "box" if n in containers else "ellipse"
        stream.write("  %s [shape=%s];\n" % (dot_quote(n), shape))
    for client, server, proto, count, fails, tx, rx in rows:
        if proto == "udp":
            label = "udp: %d datagrams\\n%s out" % (count, human_bytes(tx))
            style = ", style=dashed"
        else:
            label = "%d conn" % count
            if fails:
                label += ", %d failed" % fails
            label += "\\n%s out, %s in" % (human_bytes(tx), human_bytes(rx))
            style = ""
        stream.write("  %s -> %s [label=\"%s\"%s];\n" % (
            dot_quote(client), dot_quote(server), label, style))
    stream.write("}\n")


def _other_end(k, raddr, proto, registry):
    """The other end of a counted socket (stats key K): a container or the
    host by name, else its address (with the port it was reached on)."""
    if k.peer_cgroup_id:
        peer = registry.resolve_socket(k.peer_cgroup_id, k.peer_netns)
    elif proto == "udp" and is_loopback(raddr):
        peer = None
    else:
        peer = registry.resolve_address(raddr, k.rport, k.netns,
                                        proto == "tcp" and k.dir == C.DIR_OUT)
    if peer is not None:
        return escape(peer.label), peer.kind != "host"
    if k.dir == C.DIR_OUT:
        return format_endpoint(raddr, k.rport), False
    return raddr, False


def connection_pairs(stats, registry):
    """The summary's rows from the kernel's per-socket-owner counters
    (STATS: (key, value) of the stats map): (client, server, proto,
    connections, failed, tx, rx), TX from client to server, TCP first,
    busiest first; and the containers named, for the DOT graph."""
    pairs = {}
    containers = set()
    for k, v in stats:
        if not (v.conns or v.fails or v.tx_bytes or v.rx_bytes):
            continue
        proto = "udp" if k.proto == C.PROTO_UDP else "tcp"
        mine = escape(registry.resolve_key(k.cgroup_id, k.mntns).label)
        containers.add(mine)
        other, named = _other_end(k, format_addr(k.family, k.raddr), proto, registry)
        if named:
            containers.add(other)
        if k.dir == C.DIR_OUT:
            key, tx, rx = (mine, other, proto), v.tx_bytes, v.rx_bytes
        else:
            key, tx, rx = (other, mine, proto), v.rx_bytes, v.tx_bytes
        row = pairs.setdefault(key, [0, 0, 0, 0])
        row[0] += v.conns
        row[1] += v.fails
        row[2] += tx
        row[3] += rx
    rows = [(c, s, p, r[0], r[1], r[2], r[3]) for (c, s, p), r in pairs.items()]
    rows.sort(key=lambda r: (r[2], -r[3], -r[5] - r[6], r[0], r[1]))
    return rows, containers
