/* containernet.h: the event containernet's BPF program sends and its Python
 * side decodes (through BCC, from this struct: flat, no nested structs),
 * and the in-kernel summary's key and counters. */
#ifndef CONTAINERNET_H
#define CONTAINERNET_H

#include "ctrace.h"

#define NET_EV_CONNECT 0    /* active open established (SYN_SENT -> ESTABLISHED) */
#define NET_EV_ACCEPT  1    /* passive open returned by accept()/accept4() */
#define NET_EV_CLOSE   2    /* an established connection reached CLOSE */
#define NET_EV_FAIL    3    /* a connect failed (SYN_SENT -> CLOSE): error */
#define NET_EV_LISTEN  4    /* a socket started listening (CLOSE -> LISTEN) */

#define NET_DIR_OUT 0
#define NET_DIR_IN  1

#define NET_F_RESET   1     /* tcp:tcp_receive_reset seen on this socket */
#define NET_F_PEER    2     /* the other end's socket was seen (peer_* valid) */
#define NET_F_TRACED  8     /* the owner is in the tool's scope (LISTEN events) */

#define NET_AF_INET 2
#define NET_AF_INET6 10
#define NET_PROTO_TCP 6
#define NET_PROTO_UDP 17

struct net_event {
    CT_CONTEXT_FIELDS
    u32 type;               /* NET_EV_* */
    u64 sk;                 /* socket address: an id for the connection */
    u64 duration_ns;        /* CLOSE: since ESTABLISHED (or connect) */
    u64 tx_bytes;           /* CLOSE: tcp_sock.bytes_acked */
    u64 rx_bytes;           /* CLOSE: tcp_sock.bytes_received */
    u64 peer_cgroup_id;     /* the other end's socket cgroup (names: ct_cgroups) */
    u32 peer_netns;
    u32 dir;                /* NET_DIR_* */
    s32 error;              /* FAIL/CLOSE: sk_err (positive errno) */
    u32 flags;              /* NET_F_* */
    u16 family;
    u16 lport;
    u16 rport;
    u16 _pad;
    u8 laddr[16];
    u8 raddr[16];
};

/* -s: counted in the kernel, one entry per owner, direction and peer. */
struct net_stat_key {
    u64 cgroup_id;          /* the owner's cgroup (a task's) */
    u64 peer_cgroup_id;     /* 0: unknown (resolve raddr in user space) */
    u32 netns;              /* the owner's netns (loopback peers) */
    u32 mntns;              /* the owner's mount namespace */
    u32 peer_netns;         /* with peer_cgroup_id */
    u16 family;
    u16 rport;              /* OUT: server port; IN: 0 */
    u8 dir;
    u8 proto;               /* NET_PROTO_* */
    u8 _pad[6];
    u8 raddr[16];
};

struct net_stat {
    u64 conns;              /* TCP: connections; UDP: datagrams */
    u64 fails;
    u64 tx_bytes;
    u64 rx_bytes;
};

#endif
