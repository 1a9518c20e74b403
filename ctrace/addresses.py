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
  containers running at start: the kernel's sock_diag lists a network
  namespace's listeners alone, where /proc/net/tcp lists every socket);
- the addresses of every running container's network namespace, for every
  runtime (read from /proc: its local IPv4 and IPv6 addresses), refreshed
  on a miss at most once a second.
"""

import os
import socket
import struct
import time

from ctrace import libc
from ctrace.threads import Beside

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
        # One sock_diag socket per namespace, all made by one thread.
        diag = netns_diag_sockets([members[0][1] for members in by_netns.values()])
        try:
            for netns, members in by_netns.items():
                self._learn_netns(netns, members, diag=diag.pop(members[0][1], None))
        finally:
            for sock in diag.values():
                if isinstance(sock, socket.socket):
                    sock.close()

    def _learn_netns(self, netns, members, listeners=True, diag=None):
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
        for port, inode in listening_sockets(pid, diag):
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


def listening_sockets(pid, diag=None):
    """(port, socket inode) of the TCP sockets listening in PID's network
    namespace: asked of the kernel's sock_diag through DIAG (a socket of
    that namespace: netns_diag_sockets()) for listeners only, else read from
    /proc/PID/net/tcp{,6} (which lists every socket of the namespace: with
    100,000 in TIME_WAIT, a tenth of a second and more)."""
    if isinstance(diag, socket.socket):
        try:
            return diag_listeners(diag)
        except OSError:
            pass
    return proc_listening_sockets(pid)


def proc_listening_sockets(pid):
    """listening_sockets() from /proc."""
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


# sock_diag (linux/sock_diag.h, linux/inet_diag.h): a dump of the TCP
# sockets of one state, from the kernel's hash of listeners.
NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
CLONE_NEWNET = 0x40000000
TCP_LISTEN_STATE = 10
DIAG_TIMEOUT = 2.0            # a dump that does not end falls back to /proc
_NLMSGHDR = struct.Struct("=IHHII")             # len, type, flags, seq, pid
# inet_diag_req_v2: family, protocol, ext, pad, states, then inet_diag_sockid
# (sport, dport, src[16], dst[16], if, cookie[2]): 56 bytes
_DIAG_REQ = struct.Struct("=BBBBI48x")
# inet_diag_msg: family, state, timer, retrans, sockid (sport big-endian at
# 4), expires, rqueue, wqueue, uid, inode (at 68): 72 bytes
_DIAG_MSG_LEN = 72


def diag_request(family, seq):
    """The dump request of FAMILY's listening TCP sockets."""
    body = _DIAG_REQ.pack(family, socket.IPPROTO_TCP, 0, 0, 1 << TCP_LISTEN_STATE)
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), SOCK_DIAG_BY_FAMILY,
                          NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body


def diag_replies(data):
    """The (port, inode) of each inet_diag_msg in DATA (netlink messages);
    True as the last item once the dump is done.  OSError for an error."""
    at = 0
    while at + _NLMSGHDR.size <= len(data):
        length, kind = _NLMSGHDR.unpack_from(data, at)[:2]
        if length < _NLMSGHDR.size or at + length > len(data):
            break
        body = at + _NLMSGHDR.size
        if kind == NLMSG_DONE:
            yield True
            return
        if kind == NLMSG_ERROR:
            err = -struct.unpack_from("=i", data, body)[0]
            raise OSError(err, "sock_diag: %s" % os.strerror(err))
        if kind == SOCK_DIAG_BY_FAMILY and length - _NLMSGHDR.size >= _DIAG_MSG_LEN:
            port = struct.unpack_from("!H", data, body + 4)[0]
            inode = struct.unpack_from("=I", data, body + 68)[0]
            yield port, inode
        at += (length + 3) & ~3
    return


def diag_listeners(sock):
    """(port, inode) of the listening TCP sockets the sock_diag socket SOCK
    sees (its network namespace's), IPv4 and IPv6."""
    out = []
    with sock:
        for seq, family in enumerate((socket.AF_INET, socket.AF_INET6), 1):
            sock.send(diag_request(family, seq))
            done = False
            while not done:
                for item in diag_replies(sock.recv(65536)):
                    if item is True:
                        done = True
                    else:
                        out.append(item)
    return out


def netns_diag_sockets(pids):
    """{pid: a sock_diag socket of its network namespace, or the OSError
    that kept it from being made}.  One thread of ours makes them all,
    joining each namespace in turn (a socket keeps the namespace it was made
    in), and ends with them made: the tool's own threads never leave the
    host's namespace.  OSError without the privilege (CAP_SYS_ADMIN)."""
    def make():
        made = {}
        for pid in pids:
            try:
                target = os.open("/proc/%d/ns/net" % pid, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    libc.check(libc.setns(target, CLONE_NEWNET),
                               "setns into pid %d's network namespace" % pid)
                finally:
                    os.close(target)
                sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC,
                                     NETLINK_SOCK_DIAG)
                sock.settimeout(DIAG_TIMEOUT)
                made[pid] = sock
            except OSError as exc:
                made[pid] = exc
        return made
    return Beside(make, "ctrace-netns").result() if pids else {}
