"""Formatting what containernet reports: addresses, byte counts, connection
status, and the Graphviz DOT graph of its summary (pure logic, unit-tested)."""

import errno
import socket

from ctrace.bpf import header_constants
from ctrace.output import escape

C = header_constants("containernet.h", "NET_")
_V4MAPPED = bytes(10) + b"\xff\xff"
_addrs = {}


def format_addr(family, raw):
    """Address bytes from the kernel -> text; IPv4-mapped IPv6 as IPv4.
    Cached: a connection stream repeats a few addresses."""
    raw = bytes(raw)
    found = _addrs.get((family, raw))
    if found is not None:
        return found
    if family == C.AF_INET:
        found = socket.inet_ntop(socket.AF_INET, raw[:4])
    elif raw[:12] == _V4MAPPED:
        found = socket.inet_ntop(socket.AF_INET, raw[12:16])
    else:
        found = socket.inet_ntop(socket.AF_INET6, raw[:16])
    if len(_addrs) > 8192:
        _addrs.clear()
    _addrs[(family, raw)] = found
    return found


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
