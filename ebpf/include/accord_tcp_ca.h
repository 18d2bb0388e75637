/* SPDX-License-Identifier: (MIT OR Apache-2.0) */
/*
 * accord_tcp_ca.h: the few kernel types a BPF congestion control
 * (struct_ops tcp_congestion_ops) needs, declared by hand for CO-RE.
 *
 * Only the members a program touches are declared. Every struct carries
 * preserve_access_index, so clang records each field access as a CO-RE
 * relocation and libbpf rewrites the offsets against the running
 * kernel's BTF (/sys/kernel/btf/vmlinux) at load time: the layout here
 * does not have to match the kernel's, only the struct and member names
 * do. This replaces a generated 100k-line vmlinux.h.
 *
 * struct tcp_congestion_ops is matched by libbpf by member name too; its
 * local layout is free.
 */
#ifndef ACCORD_TCP_CA_H
#define ACCORD_TCP_CA_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#define ACCORD_CORE __attribute__((preserve_access_index))

struct sock {
	__u8 __opaque; /* only ever used through a pointer */
} ACCORD_CORE;

struct inet_connection_sock {
	__u8 icsk_ca_state : 5;
	struct {
		__u8 pending;
	} icsk_ack;
	__u64 icsk_ca_priv[13];
} ACCORD_CORE;

struct tcp_sock {
	__u32 snd_cwnd;
	__u32 snd_ssthresh;
	__u32 snd_nxt;
	__u32 snd_una;
	__u32 rcv_nxt;
	__u32 delivered;
	__u32 delivered_ce;
	__u8 ecn_flags;
} ACCORD_CORE;

/* include/net/tcp.h and include/net/inet_connection_sock.h values. */
enum tcp_ca_event {
	CA_EVENT_TX_START = 0,
	CA_EVENT_CWND_RESTART = 1,
	CA_EVENT_COMPLETE_CWR = 2,
	CA_EVENT_LOSS = 3,
	CA_EVENT_ECN_NO_CE = 4,
	CA_EVENT_ECN_IS_CE = 5,
};

#define ACCORD_TCP_CA_RECOVERY 3     /* enum tcp_ca_state: TCP_CA_Recovery */
#define ACCORD_TCP_CONG_NEEDS_ECN 0x2
#define ACCORD_TCP_ECN_DEMAND_CWR 4
#define ACCORD_ICSK_ACK_TIMER 2
#define ACCORD_ICSK_ACK_NOW 16

struct tcp_congestion_ops {
	__u32 (*ssthresh)(struct sock *sk);
	void (*cong_avoid)(struct sock *sk, __u32 ack, __u32 acked);
	void (*set_state)(struct sock *sk, __u8 new_state);
	void (*cwnd_event)(struct sock *sk, enum tcp_ca_event ev);
	void (*in_ack_event)(struct sock *sk, __u32 flags);
	__u32 (*undo_cwnd)(struct sock *sk);
	void (*init)(struct sock *sk);
	void (*release)(struct sock *sk);
	__u32 flags;
	char name[16];
};

static __always_inline struct tcp_sock *accord_tcp_sk(const struct sock *sk)
{
	return (struct tcp_sock *)sk;
}

static __always_inline struct inet_connection_sock *accord_inet_csk(const struct sock *sk)
{
	return (struct inet_connection_sock *)sk;
}

/* The congestion control's private area inside the socket (104 bytes). */
static __always_inline void *accord_inet_csk_ca(const struct sock *sk)
{
	return (void *)accord_inet_csk(sk)->icsk_ca_priv;
}

/* Kernel functions a tcp_congestion_ops program may call (kfuncs). */
extern void tcp_reno_cong_avoid(struct sock *sk, __u32 ack, __u32 acked) __ksym;

#endif /* ACCORD_TCP_CA_H */
