"""The container at the other end of a connection, by address (part of the
Registry: ctrace.registry).

The kernel names the other end itself when it sees both sockets of a
connection on this host (bpf_c/containernet.bpf.c).  When it does not (a
connection made before the tool started, a peer whose socket event was
missed, an in-kernel summary row), the address tells, from what this host
knows, in order:
- the local end of a connection the tool has seen (loopback within one
  network namespace);
- a listening socket seen (the tool's LISTEN events, and a scan of the
  containers running at start);
- the addresses of every running container's network namespace, for every
  runtime (read from /proc: its local IPv4 and IPv6 addresses), refreshed
  on a miss at most once a second.
"""

import os
import socket
import time

RESCAN_SECONDS = 1.0          # an unknown address is looked for again after
SCAN_SECONDS = 0.1            # /proc is scanned at most this often
TCP_LISTEN = "0A"             # the state column of /proc/net/tcp (TCP_LISTEN, 10)
MAX_ENTRIES = 65536


def is_loopback(addr):
    """For addresses in text (IPv4-mapped IPv6 shown as IPv4)."""
    return addr.startswith("127.") or addr == "::1"


class Addresses:
    def __init__(self, registry):
        self.registry = registry
        self.listeners = {}       # (netns, port) -> Container
        self.endpoints = {}       # (addr, port, netns or 0) -> Container
        self.local_netns = {}     # a non-loopback local address -> its netns
        self.ips = {}             # container address -> Container
        self.netns_owners = {}    # netns -> Container (one container only)
        self._scanned = 0.0
        self._missed = {}         # address -> when a scan did not know it

    @staticmethod
    def _endpoint_key(addr, port, netns):
        return (addr, port, netns if is_loopback(addr) else 0)

    # -- what events tell ----------------------------------------------------
    def learn_listener(self, netns, port, owner):
        self.listeners[(netns, port)] = owner

    def learn_endpoint(self, addr, port, netns, owner):
        """The local end of a connection OWNER made or accepted."""
        if not is_loopback(addr):
            self.local_netns[addr] = netns
        if len(self.endpoints) > MAX_ENTRIES:
            self.endpoints.clear()
        self.endpoints[self._endpoint_key(addr, port, netns)] = owner

    def forget_endpoint(self, addr, port, netns):
        self.endpoints.pop(self._endpoint_key(addr, port, netns), None)

    def forget(self, info):
        """A container has died: its namespace inum may go to another.  Its
        addresses still name it (in summaries of what it did) until another
        container takes them."""
        for table in (self.netns_owners, self.listeners, self.endpoints):
            for key in [k for k, c in table.items() if c.info is info]:
                del table[key]

    # -- lookups ---------------------------------------------------------------
    def resolve(self, addr, port, netns, outgoing):
        """The Container at ADDR:PORT, seen from a task in NETNS; OUTGOING:
        ADDR:PORT is the server. None if unknown."""
        loop = is_loopback(addr)
        found = self.endpoints.get(self._endpoint_key(addr, port, netns))
        if found is not None:
            return found
        if outgoing:
            server_netns = netns if loop else self.local_netns.get(addr)
            if server_netns is not None:
                found = self.listeners.get((server_netns, port))
                if found is not None:
                    return found
        if loop:
            return None
        found = self.ips.get(addr)
        if found is None:
            now = time.monotonic()
            if now - self._missed.get(addr, -RESCAN_SECONDS) >= RESCAN_SECONDS:
                self.scan()
                found = self.ips.get(addr)
                if found is None:
                    if len(self._missed) > MAX_ENTRIES:
                        self._missed.clear()
                    self._missed[addr] = now
        return found

    def netns_owner(self, netns):
        return self.netns_owners.get(netns)

    # -- what /proc tells -----------------------------------------------------
    def learn_process(self, container, pid):
        """A runtime says CONTAINER runs with process PID: its addresses."""
        netns = self._netns(pid)
        if netns is not None:
            self._learn_netns(netns, [(container, pid)], listeners=False)

    def _netns(self, pid):
        try:
            netns = os.stat("/proc/%d/ns/net" % pid).st_ino
        except OSError:
            return None
        return None if netns == self.registry.host_ns["net"] else netns

    def scan(self):
        """Addresses and listening sockets of the containers running now,
        of every runtime; at most every SCAN_SECONDS."""
        now = time.monotonic()
        if now - self._scanned < SCAN_SECONDS:
            return
        self._scanned = now
        by_netns = {}                         # netns -> [(Container, pid)]
        for pid, runtime, cid in self.registry.scan_processes():
            netns = self._netns(pid)
            if netns is not None:
                container = self.registry.runtime_container(runtime, cid)
                by_netns.setdefault(netns, []).append((container, pid))
        for netns, members in by_netns.items():
            self._learn_netns(netns, members)

    def _learn_netns(self, netns, members, listeners=True):
        """NETNS is used by MEMBERS [(Container, pid)]: one container's own,
        or shared (a pod, --network container:NAME: then an address names
        the first container seen in it, and a listener its holder)."""
        first = members[0][0]
        owner = self.netns_owners.get(netns)
        if owner is None or owner.id == first.id or len(members) == 1 and listeners:
            self.netns_owners[netns] = owner = first
        pid = members[0][1]
        for addr in local_addresses(pid):
            self.ips[addr] = owner          # an address may have been another's
            self.local_netns[addr] = netns
        if not listeners:
            return
        holders = {}
        for container, member_pid in members:
            for inode in socket_inodes(member_pid):
                holders[inode] = container
        alone = owner if len(members) == 1 else None
        for port, inode in listening_sockets(pid):
            found = holders.get(inode, alone)
            if found is not None:
                self.listeners.setdefault((netns, port), found)


def local_addresses(pid):
    """The non-loopback addresses of PID's network namespace, as text."""
    out = []
    try:
        with open("/proc/%d/net/fib_trie" % pid) as f:
            last = None
            for line in f:
                text = line.strip()
                if text.startswith(("|--", "+--")):
                    last = text[3:].strip().split("/")[0]
                elif text == "/32 host LOCAL" and last and not last.startswith("127."):
                    out.append(last)
    except OSError:
        pass
    try:
        with open("/proc/%d/net/if_inet6" % pid) as f:
            for line in f:
                raw = bytes.fromhex(line.split()[0])
                addr = socket.inet_ntop(socket.AF_INET6, raw)
                if addr != "::1" and not addr.startswith("fe80:"):
                    out.append(addr)
    except (OSError, ValueError, IndexError):
        pass
    return sorted(set(out))


def socket_inodes(pid):
    """Inodes of the sockets PID holds."""
    out = set()
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if link.startswith("socket:["):
                out.add(int(link[8:-1]))
    except OSError:
        pass
    return out


def listening_sockets(pid):
    """(port, socket inode) of the TCP sockets listening in PID's network
    namespace."""
    out = []
    for name in ("tcp", "tcp6"):
        try:
            with open("/proc/%d/net/%s" % (pid, name)) as f:
                next(f, None)
                for line in f:
                    fields = line.split()
                    if len(fields) > 9 and fields[3] == TCP_LISTEN:
                        out.append((int(fields[1].rsplit(":", 1)[1], 16), int(fields[9])))
        except (OSError, ValueError):
            continue
    return out
