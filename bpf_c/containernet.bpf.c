/* containernet: TCP connections of containers, attributed to the container
 * that owns each end, from tracepoints only.
 *
 * Attribution never uses the current task in softirq context:
 * - the client's owner is captured at CLOSE -> SYN_SENT, which runs inside
 *   connect() (the current task is the client);
 * - the server's owner is captured at sys_exit_accept(4), in the accepting
 *   task, with the socket found through its new file descriptor;
 * - everything later (ESTABLISHED on the client, CLOSE on either side,
 *   which run in softirq) looks the owner up by socket address;
 * - the other end of a connection on this host is found by its 4-tuple when
 *   the server's child socket becomes ESTABLISHED, and named from that
 *   socket's own cgroup (sk_cgrp_data), never from the current task.
 *
 * Without -s each step sends an event; with -s (NET_SUMMARY) it adds to a
 * counter per owner, direction and peer instead (net_count_*), and UDP
 * datagrams sent are counted too.
 */
#include "containernet.h"
#include "ct_uring.h"

CT_BTF_OFFSET(NET_OFF_SK_CGRP_DATA, sock.sk_cgrp_data)
CT_BTF_OFFSET(NET_OFF_SCD_CGROUP, sock_cgroup_data.cgroup)
CT_BTF_OFFSET(NET_OFF_SKC_NET, sock_common.skc_net)
CT_BTF_OFFSET(NET_OFF_SK_ERR, sock.sk_err)
CT_BTF_OFFSET(NET_OFF_TCP_BYTES_ACKED, tcp_sock.bytes_acked)
CT_BTF_OFFSET(NET_OFF_TCP_BYTES_RECEIVED, tcp_sock.bytes_received)
CT_BTF_OFFSET(NET_OFF_SK_PROTOCOL, sock.sk_protocol)
CT_BTF_OFFSET(NET_OFF_SKC_FAMILY, sock_common.skc_family)
CT_BTF_OFFSET(NET_OFF_SKC_DPORT, sock_common.skc_dport)
CT_BTF_OFFSET(NET_OFF_SKC_DADDR, sock_common.skc_daddr)
CT_BTF_OFFSET(NET_OFF_SKC_V6_DADDR, sock_common.skc_v6_daddr)
CT_BTF_OFFSET(NET_OFF_MSGHDR_NAME, user_msghdr.msg_name)
CT_BTF_OFFSET(NET_OFF_MMSGHDR_LEN, mmsghdr.msg_len)
CT_BTF_SIZE(NET_SIZEOF_MMSGHDR, mmsghdr)

/* TCP states (include/net/tcp_states.h) */
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_CLOSE 7
#define TCP_LISTEN 10

#ifndef NET_SUMMARY
#define NET_SUMMARY 0
#endif
#ifndef NET_PORT_MATCH
#define NET_PORT_MATCH(p) 1
#endif
#ifndef NET_FAMILY_MATCH
#define NET_FAMILY_MATCH(f) 1
#endif
/* TCP sockets followed at once (least recently changed dropped first). */
#define NET_SOCKETS 65536

BPF_RINGBUF_OUTPUT(events, CT_RING_PAGES);
BPF_PERCPU_ARRAY(scratch, struct net_event, 1);

/* Every TCP socket seen in a state change since the tool started, and
 * the owner of one in the tool's scope (captured in process context): one
 * entry, so a connection costs one map update and one delete per end (a
 * map of owners beside it made that two of each). */
struct sock_info {
    u64 ts_ns;              /* connect() or ESTABLISHED */
    u64 peer;               /* the other end's socket, when on this host */
    u64 peer_cgroup_id;
    u32 peer_netns;
    u32 flags;              /* NET_F_RESET */
    u16 family;
    u16 lport;
    u16 rport;
    u8 dir;
    u8 counted;             /* -s: this socket's bytes belong to its row */
    u8 owned;               /* owner is filled: the socket is in scope */
    u8 tupled;              /* its 4-tuple is in tuples (deleted at close) */
    u8 _pad[6];
    u8 laddr[16];
    u8 raddr[16];
    struct ct_ctx owner;
};
BPF_TABLE("lru_hash", u64, struct sock_info, socks, NET_SOCKETS);

/* Both ends of a connection on this host: 4-tuple -> socket. Loopback
 * tuples carry the network namespace, others do not (they cross it). */
struct tuple_key {
    u8 laddr[16];
    u8 raddr[16];
    u32 netns;
    u16 lport;
    u16 rport;
    u16 family;
    u16 _pad[3];
};
BPF_TABLE("lru_hash", struct tuple_key, u64, tuples, 65536);

#if NET_SUMMARY
BPF_HASH(stats, struct net_stat_key, struct net_stat, 16384);
#endif

static __always_inline void *net_sock_cgroup_kn(void *sk)
{
    void *cgrp = ct_read_ptr(sk, NET_OFF_SK_CGRP_DATA + NET_OFF_SCD_CGROUP);
    return ct_read_ptr(cgrp, CT_OFF_CGROUP_KN);
}

static __always_inline u32 net_sock_netns(void *sk)
{
    void *net = ct_read_ptr(sk, NET_OFF_SKC_NET);
    return ct_read_u32(net, CT_OFF_NET_INUM);
}

static __always_inline int net_is_loopback(u16 family, const u8 *addr)
{
    if (family == NET_AF_INET)
        return addr[0] == 127;
    /* ::1 or ::ffff:127.x.y.z */
    u64 hi = 0, lo = 0;
    __builtin_memcpy(&hi, addr, 8);
    __builtin_memcpy(&lo, addr + 8, 8);
    if (hi)
        return 0;
    return lo == 0x0100000000000000ULL ||
           ((lo & 0xffffffffULL) == 0xffff0000ULL && addr[12] == 127);
}

static __always_inline int net_is_v4mapped(const u8 *a)
{
    u64 hi = 0;
    u32 mid = 0;
    __builtin_memcpy(&hi, a, 8);
    __builtin_memcpy(&mid, a + 8, 4);
    return hi == 0 && mid == 0xffff0000;
}

static __always_inline void net_tuple(struct tuple_key *k, const struct sock_info *s,
                                      u32 netns, int reversed)
{
    __builtin_memset(k, 0, sizeof(*k));
    if (reversed) {
        __builtin_memcpy(k->laddr, s->raddr, 16);
        __builtin_memcpy(k->raddr, s->laddr, 16);
        k->lport = s->rport;
        k->rport = s->lport;
    } else {
        __builtin_memcpy(k->laddr, s->laddr, 16);
        __builtin_memcpy(k->raddr, s->raddr, 16);
        k->lport = s->lport;
        k->rport = s->rport;
    }
    k->family = s->family;
    /* A dual-stack server sees an IPv4 client as ::ffff:a.b.c.d: key it as
     * IPv4 so that it meets the client's own tuple. */
    if (s->family == NET_AF_INET6 && net_is_v4mapped(k->laddr) && net_is_v4mapped(k->raddr)) {
        u8 l[4], r[4];
        __builtin_memcpy(l, k->laddr + 12, 4);
        __builtin_memcpy(r, k->raddr + 12, 4);
        __builtin_memset(k->laddr, 0, 16);
        __builtin_memset(k->raddr, 0, 16);
        __builtin_memcpy(k->laddr, l, 4);
        __builtin_memcpy(k->raddr, r, 4);
        k->family = NET_AF_INET;
    }
    if (net_is_loopback(k->family, k->laddr))
        k->netns = netns;
}

/* A macro: BCC declares the tracepoint's args struct only inside the probe. */
#define net_addrs_from_args(s, args) do {                                   \
        (s)->family = (args)->family;                                        \
        (s)->lport = (args)->sport;                                          \
        (s)->rport = (args)->dport;                                          \
        __builtin_memset((s)->laddr, 0, 16);                                 \
        __builtin_memset((s)->raddr, 0, 16);                                 \
        if ((args)->family == NET_AF_INET) {                                 \
            __builtin_memcpy((s)->laddr, (args)->saddr, 4);                  \
            __builtin_memcpy((s)->raddr, (args)->daddr, 4);                  \
        } else {                                                             \
            __builtin_memcpy((s)->laddr, (args)->saddr_v6, 16);              \
            __builtin_memcpy((s)->raddr, (args)->daddr_v6, 16);              \
        }                                                                    \
    } while (0)

static __always_inline int net_owner_wanted(u16 family, u16 lport, u16 rport)
{
    if (!NET_FAMILY_MATCH(family))
        return 0;
    return NET_PORT_MATCH(lport) || NET_PORT_MATCH(rport);
}

/* The current task (T) as the owner of socket S (in process context). */
static __always_inline struct ct_ctx *net_take_owner(struct sock_info *s,
                                                     const struct ct_task *t)
{
    ct_fill(&s->owner, t);
    s->owned = 1;
    return &s->owner;
}

/* The owner of S, if in the tool's scope. */
static __always_inline struct ct_ctx *net_owner(struct sock_info *s)
{
    return s->owned ? &s->owner : NULL;
}

/* -- events ---------------------------------------------------------------- */

static __always_inline struct net_event *net_new_event(u32 type, u64 sk,
                                                       struct ct_ctx *owner)
{
    int zero = 0;
    struct net_event *e = scratch.lookup(&zero);
    if (!e)
        return NULL;
    if (owner)
        __builtin_memcpy(e, owner, sizeof(struct ct_ctx));
    e->ts_ns = bpf_ktime_get_ns();
    e->sk = sk;
    e->type = type;
    e->duration_ns = 0;
    e->tx_bytes = 0;
    e->rx_bytes = 0;
    e->peer_cgroup_id = 0;
    e->peer_netns = 0;
    e->dir = 0;
    e->error = 0;
    e->flags = 0;
    e->_pad = 0;
    return e;
}

static __always_inline void net_event_conn(struct net_event *e, struct sock_info *s)
{
    e->family = s->family;
    e->lport = s->lport;
    e->rport = s->rport;
    e->dir = s->dir;
    e->flags |= s->flags & NET_F_RESET;
    __builtin_memcpy(e->laddr, s->laddr, 16);
    __builtin_memcpy(e->raddr, s->raddr, 16);
    if (s->peer_cgroup_id) {
        e->flags |= NET_F_PEER;
        e->peer_cgroup_id = s->peer_cgroup_id;
        e->peer_netns = s->peer_netns;
    }
}

static __always_inline void net_submit(struct net_event *e)
{
    if (events.ringbuf_output(e, sizeof(*e), ct_ring_wake(sizeof(*e), e->ct_flags)))
        ct_count_lost();
}

/* A connect or accept line: the connection's addresses, owned by O. */
static __always_inline void net_emit_conn(u32 type, u64 sk, struct ct_ctx *o,
                                          struct sock_info *s)
{
    struct net_event *e = net_new_event(type, sk, o);
    if (!e)
        return;
    net_event_conn(e, s);
    net_submit(e);
}

/* -- counters (-s) --------------------------------------------------------- */

#if NET_SUMMARY
static __always_inline struct net_stat *net_stat_row(struct ct_ctx *o, struct sock_info *s,
                                                     u64 peer_cgid, u8 proto)
{
    struct net_stat_key k = {};
    k.cgroup_id = o->cgroup_id;
    k.peer_cgroup_id = peer_cgid;
    if (peer_cgid)
        k.peer_netns = s->peer_netns;
    k.netns = o->netns;
    k.mntns = o->mntns;
    k.family = s->family;
    k.dir = s->dir;
    k.proto = proto;
    if (s->dir == NET_DIR_OUT)
        k.rport = s->rport;
    __builtin_memcpy(k.raddr, s->raddr, 16);
    struct net_stat zero = {};
    /* A full map is counted as lost, like a full ring buffer. */
    struct net_stat *st = stats.lookup_or_try_init(&k, &zero);
    if (!st)
        ct_count_lost();
    return st;
}

static __always_inline void net_count_conn(struct ct_ctx *o, struct sock_info *s, u64 peer)
{
    struct net_stat *st = net_stat_row(o, s, peer, NET_PROTO_TCP);
    if (st)
        __sync_fetch_and_add(&st->conns, 1);
}

/* The client counted its connection under an unknown peer at its
 * ESTABLISHED, which comes first: move it to the row of the peer now
 * known (CS: the client's socket info). */
static __always_inline void net_count_peer_found(struct sock_info *cs)
{
    struct ct_ctx *co = net_owner(cs);
    if (!co || cs->dir != NET_DIR_OUT || !cs->peer_cgroup_id)
        return;
    struct net_stat *st0 = net_stat_row(co, cs, 0, NET_PROTO_TCP);
    if (st0 && st0->conns) {
        __sync_fetch_and_add(&st0->conns, -1);
        net_count_conn(co, cs, cs->peer_cgroup_id);
    }
}
#endif

/* -- the TCP state machine ------------------------------------------------- */

/* CLOSE -> SYN_SENT, inside connect(): the current task is the client. */
static __always_inline void net_on_connect(u64 sk, struct sock_info *s)
{
    s->ts_ns = bpf_ktime_get_ns();
    s->dir = NET_DIR_OUT;
    if (net_owner_wanted(s->family, 0, s->rport)) {
        struct ct_task t = ct_current();
        if (ct_traced_task(&t))
            net_take_owner(s, &t);
    }
    socks.update(&sk, s);
}

/* CLOSE -> LISTEN, inside listen(): always reported, for naming peers. */
static __always_inline void net_on_listen(u64 sk, struct sock_info *s)
{
    struct net_event *e = net_new_event(NET_EV_LISTEN, sk, NULL);
    if (!e)
        return;
    struct ct_task t = ct_current();
    ct_fill((struct ct_ctx *)e, &t);
    if (net_owner_wanted(s->family, s->lport, 0) && ct_traced_task(&t))
        e->flags |= NET_F_TRACED;
    s->dir = NET_DIR_IN;
    net_event_conn(e, s);
    net_submit(e);
}

/* SYN_SENT -> ESTABLISHED, on the client (softirq): the source port is
 * known now, and the tuple that the server's side will meet. */
static __always_inline void net_on_connected(u64 sk, struct sock_info *args_addrs)
{
    struct sock_info *s = socks.lookup(&sk);
    if (!s)
        return;
    s->family = args_addrs->family;
    s->lport = args_addrs->lport;
    s->rport = args_addrs->rport;
    __builtin_memcpy(s->laddr, args_addrs->laddr, 16);
    __builtin_memcpy(s->raddr, args_addrs->raddr, 16);
    struct tuple_key k;
    net_tuple(&k, s, net_sock_netns((void *)sk), 0);
    tuples.update(&k, &sk);
    s->tupled = 1;
    struct ct_ctx *o = net_owner(s);
    if (!o)
        return;
#if NET_SUMMARY
    net_count_conn(o, s, 0);
#else
    net_emit_conn(NET_EV_CONNECT, sk, o, s);
#endif
}

/* SYN_RECV -> ESTABLISHED: the server's child socket (softirq), no owner
 * until accept(). If the client's socket is on this host, each end learns
 * the other's cgroup (named in ct_cgroups while both sockets live). */
static __always_inline void net_on_accepted(u64 sk, struct sock_info *s)
{
    s->ts_ns = bpf_ktime_get_ns();
    s->dir = NET_DIR_IN;
    u32 netns = net_sock_netns((void *)sk);
    struct tuple_key k;
    net_tuple(&k, s, netns, 1);
    u64 *client = tuples.lookup(&k);
    /* Its own tuple is kept only for an end that establishes later and
     * looks this one up: the other end of a simultaneous open (no
     * client met), never a client, which is established first. */
    s->tupled = !client;
    if (client) {
        u64 csk = *client;
        struct sock_info *cs = socks.lookup(&csk);
        if (cs) {
            s->peer = csk;
            s->peer_cgroup_id = ct_note_cgroup_kn(net_sock_cgroup_kn((void *)csk));
            s->peer_netns = net_sock_netns((void *)csk);
            cs->peer = sk;
            cs->peer_cgroup_id = ct_note_cgroup_kn(net_sock_cgroup_kn((void *)sk));
            cs->peer_netns = netns;
#if NET_SUMMARY
            net_count_peer_found(cs);
#endif
        }
    }
    socks.update(&sk, s);
    if (s->tupled) {
        net_tuple(&k, s, netns, 0);
        tuples.update(&k, &sk);
    }
}

/* -> CLOSE: a failed connect (from SYN_SENT), or the end of a connection.
 * The entry is read in place and deleted last. */
static __always_inline void net_on_close(u64 sk, int old, struct sock_info *args_addrs)
{
    struct sock_info *s = socks.lookup(&sk);
    if (!s)
        return;
    int failed = old == TCP_SYN_SENT;
    if (!failed && s->tupled) {
        struct tuple_key k;
        net_tuple(&k, s, net_sock_netns((void *)sk), 0);
        tuples.delete(&k);
    }
    struct ct_ctx *o = net_owner(s);
    if (!o) {
        socks.delete(&sk);
        return;
    }
    int err = 0;
    u64 tx = 0, rx = 0;
    bpf_probe_read_kernel(&err, sizeof(err), (void *)sk + NET_OFF_SK_ERR);
    bpf_probe_read_kernel(&tx, sizeof(tx), (void *)sk + NET_OFF_TCP_BYTES_ACKED);
    bpf_probe_read_kernel(&rx, sizeof(rx), (void *)sk + NET_OFF_TCP_BYTES_RECEIVED);
#if NET_SUMMARY
    struct net_stat *st = NULL;
    if (failed) {
        /* the addresses as the failed attempt had them (the caller's copy) */
        args_addrs->dir = s->dir;
        st = net_stat_row(o, args_addrs, 0, NET_PROTO_TCP);
    } else if (s->dir == NET_DIR_OUT || s->counted) {
        st = net_stat_row(o, s, s->peer_cgroup_id, NET_PROTO_TCP);
    }
    if (st && failed) {
        __sync_fetch_and_add(&st->fails, 1);
    } else if (st) {
        __sync_fetch_and_add(&st->tx_bytes, tx);
        __sync_fetch_and_add(&st->rx_bytes, rx);
    }
    socks.delete(&sk);
#else
    struct net_event *e = net_new_event(failed ? NET_EV_FAIL : NET_EV_CLOSE, sk, o);
    if (!e) {
        socks.delete(&sk);
        return;
    }
    net_event_conn(e, s);
    if (failed) {
        /* The addresses as the failed attempt had them (the source port,
         * if bound). */
        e->family = args_addrs->family;
        e->lport = args_addrs->lport;
        e->rport = args_addrs->rport;
        __builtin_memcpy(e->laddr, args_addrs->laddr, 16);
        __builtin_memcpy(e->raddr, args_addrs->raddr, 16);
    }
    e->error = err;
    e->duration_ns = e->ts_ns - s->ts_ns;       /* FAIL: how long connect() took */
    if (!failed) {
        e->tx_bytes = tx;
        e->rx_bytes = rx;
    }
    socks.delete(&sk);
    net_submit(e);
#endif
}

TRACEPOINT_PROBE(sock, inet_sock_set_state)
{
    if (args->protocol != NET_PROTO_TCP)
        return 0;
    u64 sk = (u64)args->skaddr;
    int old = args->oldstate, new = args->newstate;
    struct sock_info s = {};
    net_addrs_from_args(&s, args);

    if (old == TCP_CLOSE && new == TCP_SYN_SENT)
        net_on_connect(sk, &s);
    else if (old == TCP_CLOSE && new == TCP_LISTEN)
        net_on_listen(sk, &s);
    else if (old == TCP_SYN_SENT && new == TCP_ESTABLISHED)
        net_on_connected(sk, &s);
    else if (old == TCP_SYN_RECV && new == TCP_ESTABLISHED)
        net_on_accepted(sk, &s);
    else if (new == TCP_CLOSE && old != TCP_LISTEN && old != TCP_CLOSE)
        net_on_close(sk, old, &s);
    return 0;
}

TRACEPOINT_PROBE(tcp, tcp_receive_reset)
{
    u64 sk = (u64)args->skaddr;
    struct sock_info *s = socks.lookup(&sk);
    if (s)
        s->flags |= NET_F_RESET;
    return 0;
}

/* The socket behind one of the current task's file descriptors. */
static __always_inline void *net_fd_sock(long fd)
{
    void *file = ct_task_file((void *)bpf_get_current_task(), fd);
    /* Only a socket's file has a struct socket as its private data. */
    u16 mode = 0;
    void *inode = ct_read_ptr(file, CT_OFF_FILE_F_INODE);
    if (!inode)
        return NULL;
    bpf_probe_read_kernel(&mode, sizeof(mode), inode + CT_OFF_INODE_I_MODE);
    if ((mode & 0170000) != 0140000)       /* S_IFSOCK */
        return NULL;
    void *sock = ct_read_ptr(file, CT_OFF_FILE_PRIVATE_DATA);
    return ct_read_ptr(sock, CT_OFF_SOCKET_SK);
}

/* accept() (or io_uring's ACCEPT) returned a connection, socket SK: its
 * owner is the accepting task. */
static __always_inline int net_on_accept_sk(u64 sk)
{
    if (!sk)
        return 0;
    struct sock_info *s = socks.lookup(&sk);
    if (!s || s->dir != NET_DIR_IN)
        return 0;
    if (!net_owner_wanted(s->family, s->lport, s->rport))
        return 0;
    struct ct_task t = ct_current();
    if (!ct_traced_task(&t))
        return 0;
    struct ct_ctx *o = net_take_owner(s, &t);
#if NET_SUMMARY
    /* Counted here only if the client end is not traced itself (else its
     * connect already counted the connection). */
    u64 peer = s->peer;
    struct sock_info *ps = peer ? socks.lookup(&peer) : NULL;
    if (!(ps && ps->owned)) {
        s->counted = 1;
        net_count_conn(o, s, s->peer_cgroup_id);
    }
#else
    net_emit_conn(NET_EV_ACCEPT, sk, o, s);
#endif
    return 0;
}

static __always_inline int net_on_accept(long ret)
{
    return ret < 0 ? 0 : net_on_accept_sk((u64)net_fd_sock(ret));
}

/* accept4()'s and accept()'s exits: one program (one format; CT_ALSO_AT). */
TRACEPOINT_PROBE(syscalls, sys_exit_accept4)
{
    return net_on_accept(args->ret);
}
CT_ALSO_AT(1, tracepoint__syscalls__sys_exit_accept4, syscalls, sys_exit_accept)

#if NET_SUMMARY
/* UDP (-s only): datagrams and bytes sent per owner and destination, from
 * the send syscalls: the destination is the address passed to the call, or
 * the connected socket's peer. */
#define UDP_SENDTO 0
#define UDP_SENDMSG 1
#define UDP_SENDMMSG 2
#define UDP_MMSG_MAX 8          /* messages of one sendmmsg() counted singly */

/* Is SK a UDP socket of a wanted family? */
static __always_inline int udp_wanted(void *sk)
{
    if (!sk)
        return 0;
    u16 proto = 0, family = 0;
    bpf_probe_read_kernel(&proto, sizeof(proto), sk + NET_OFF_SK_PROTOCOL);
    if (proto != NET_PROTO_UDP)
        return 0;
    bpf_probe_read_kernel(&family, sizeof(family), sk + NET_OFF_SKC_FAMILY);
    return (family == NET_AF_INET || family == NET_AF_INET6) && NET_FAMILY_MATCH(family);
}

/* Destination of one datagram into K: the user's sockaddr, else the
 * socket's connected peer. 0 if unknown or filtered out. */
static __always_inline int udp_dest(struct net_stat_key *k, void *sk, u64 uaddr)
{
    u8 sa[28] = {};
    u16 family = 0;
    if (uaddr && ct_read_user(sa, sizeof(sa), (void *)uaddr) == 0 &&
        (sa[0] | (sa[1] << 8)) != 0) {
        family = sa[0] | (sa[1] << 8);
        k->rport = (sa[2] << 8) | sa[3];
        if (family == NET_AF_INET)
            __builtin_memcpy(k->raddr, &sa[4], 4);
        else if (family == NET_AF_INET6)
            __builtin_memcpy(k->raddr, &sa[8], 16);
        else
            return 0;
    } else {
        u16 dport = 0;
        bpf_probe_read_kernel(&family, sizeof(family), sk + NET_OFF_SKC_FAMILY);
        bpf_probe_read_kernel(&dport, sizeof(dport), sk + NET_OFF_SKC_DPORT);
        k->rport = (dport >> 8) | ((dport & 0xff) << 8);
        if (family == NET_AF_INET)
            bpf_probe_read_kernel(k->raddr, 4, sk + NET_OFF_SKC_DADDR);
        else
            bpf_probe_read_kernel(k->raddr, 16, sk + NET_OFF_SKC_V6_DADDR);
    }
    k->family = family;
    if (!k->rport)
        return 0;
    return NET_PORT_MATCH(k->rport) ? 1 : 0;
}

static __always_inline void udp_count(struct net_stat_key *k, u64 bytes)
{
    struct net_stat zero = {};
    struct net_stat *st = stats.lookup_or_try_init(k, &zero);
    if (st) {
        __sync_fetch_and_add(&st->conns, 1);
        __sync_fetch_and_add(&st->tx_bytes, bytes);
    } else {
        ct_count_lost();
    }
}

/* A send of KIND (UDP_*) on socket SK returned RET > 0; PTR is its user
 * pointer (sockaddr, user_msghdr or mmsghdr vector); T the sender. */
static __always_inline int udp_sent(void *sk, u64 ptr, long ret, u32 kind,
                                    const struct ct_task *t)
{
    /* The sender: what names its row (its cgroup's names kept, as
     * ct_fill() keeps them for TCP's owners). */
    struct net_stat_key k = {};
    k.cgroup_id = bpf_get_current_cgroup_id();
    ct_note_current_cgroup(t->task, k.cgroup_id);
    k.netns = ct_cur_netns(t);
    k.mntns = ct_cur_mntns(t);
    k.dir = NET_DIR_OUT;
    k.proto = NET_PROTO_UDP;
    if (kind != UDP_SENDMMSG) {
        /* sendto: the address passed; sendmsg: its msghdr's (one copy of
         * the destination's reading and counting for both) */
        u64 name = ptr;
        if (kind == UDP_SENDMSG) {
            name = 0;
            ct_read_user(&name, sizeof(name), (void *)ptr + NET_OFF_MSGHDR_NAME);
        }
        if (udp_dest(&k, sk, name))
            udp_count(&k, ret);
    } else {
        /* A loop, not unrolled: eight inlined copies of the destination's
         * reading and counting were a third of this program (12 KB to 4.7
         * KB of instructions), and the verifier walks it as fast. */
#pragma clang loop unroll(disable)
        for (int i = 0; i < UDP_MMSG_MAX; i++) {
            if (i >= ret)
                break;
            u64 hdr = ptr + (u64)i * NET_SIZEOF_MMSGHDR;
            u64 name = 0;
            u32 len = 0;
            ct_read_user(&name, sizeof(name), (void *)hdr + NET_OFF_MSGHDR_NAME);
            ct_read_user(&len, sizeof(len), (void *)hdr + NET_OFF_MMSGHDR_LEN);
            __builtin_memset(k.raddr, 0, 16);
            if (udp_dest(&k, sk, name))
                udp_count(&k, len);
        }
    }
    return 0;
}

/* The exit of a send of KIND, from a task in scope first (a host's sends
 * cost a few loads): its arguments are the task's saved registers, as the
 * call found them, so there is no sys_enter program.  sendto(fd, buf, len,
 * flags, addr, addrlen), sendmsg(fd, msg, flags), sendmmsg(fd, vec, vlen,
 * flags). */
static __always_inline int udp_exit(long ret, u32 kind, const struct ct_task *t)
{
    if (ret <= 0 || !ct_traced_task(t))
        return 0;
    char *regs = (char *)bpf_task_pt_regs((struct task_struct *)t->task);
    /* the descriptor as the kernel takes it: an int, whatever the
     * register's upper half holds */
    void *sk = net_fd_sock((int)CT_LOAD(u64, regs, CT_OFF_REGS_ARG0));
    if (!udp_wanted(sk))
        return 0;
    u64 ptr = kind == UDP_SENDTO ? CT_LOAD(u64, regs, CT_OFF_REGS_ARG4)
                                 : CT_LOAD(u64, regs, CT_OFF_REGS_ARG1);
    return udp_sent(sk, ptr, ret, kind, t);
}

/* One program at the three calls' exits (one format; CT_ALSO_AT), which
 * tells them by number: one copy of udp_exit() compiled and verified, where
 * a program each made -s's start 0.05 s longer. */
TRACEPOINT_PROBE(syscalls, sys_exit_sendto)
{
    /* first: loaded on one path, not one per kind (struct ct_task) */
    struct ct_task t = ct_current();
    /* in UDP_* order */
    int kind = ct_call_index(args->__syscall_nr, NET_NR_SENDTO, NET_NR_SENDMSG,
                             NET_NR_SENDMMSG, -1);
    if (kind < 0)
        return 0;
    return udp_exit(args->ret, kind, &t);
}
CT_ALSO_AT(NET_SUMMARY, tracepoint__syscalls__sys_exit_sendto, syscalls, sys_exit_sendmsg)
CT_ALSO_AT(NET_SUMMARY, tracepoint__syscalls__sys_exit_sendto, syscalls, sys_exit_sendmmsg)
#endif

/* -- io_uring (ct_uring.h): its ACCEPT, SEND and SENDMSG, at completion ----
 * (in a task of the ring's process, which owns the socket; its CONNECT is
 * seen by inet_sock_set_state in whichever thread does it, as any connect). */
#if CT_URING
TRACEPOINT_PROBE(io_uring, io_uring_complete)
{
    s32 res = args->res;
    if (res < 0)
        return 0;
    void *req = args->req;
    u32 op = ct_uring_opcode(req);
    if (op == CT_IORING_OP_ACCEPT)
        return net_on_accept_sk((u64)ct_uring_sock(ct_uring_file(req, res)));
#if NET_SUMMARY
    if ((op == CT_IORING_OP_SENDMSG || op == CT_IORING_OP_SEND) && res > 0) {
        struct ct_task t = ct_current();
        if (!ct_traced_task(&t))
            return 0;
        void *sk = ct_uring_sock(ct_uring_req_file(req));
        if (!udp_wanted(sk))
            return 0;
        u32 kind = op == CT_IORING_OP_SENDMSG ? UDP_SENDMSG : UDP_SENDTO;
        asm volatile("" : "+r"(kind));  /* one inlined udp_sent(), not one per kind */
        return udp_sent(sk, kind == UDP_SENDMSG ? (u64)ct_uring_sr_msg(req) : 0, res, kind,
                        &t);
    }
#endif
    return 0;
}
#endif /* CT_URING */
