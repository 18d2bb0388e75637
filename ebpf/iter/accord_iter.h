/* SPDX-License-Identifier: (MIT OR Apache-2.0) */
/*
 * accord_iter.h: what an `iter/tcp` program needs to re-apply a feature's
 * effects to the TCP sockets that already exist when a generation goes live.
 *
 * The daemon (runtime/src/daemon/existing.rs) loads one iterator per
 * feature that has one (ebpf/iter/<feature>.bpf.c), reusing the live
 * member's pinned maps (`accord_config`, `accord_set_<param>`) by name, so
 * the iterator sees exactly the config the chain runs with. It sets
 * ACCORD_TARGET_CGROUP to the target cgroup's id; the iterator skips every
 * socket charged to another cgroup. Each socket it acts on is reported to
 * user space as one `struct accord_iter_record` (bpf_seq_write).
 *
 * Kernel types are declared by hand for CO-RE, as in accord_tcp_ca.h: only
 * the members used, each struct with preserve_access_index.
 */
#ifndef ACCORD_ITER_H
#define ACCORD_ITER_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "accord_sets.h"

#define ACCORD_ITER_CORE __attribute__((preserve_access_index))

struct kernfs_node {
	__u64 id;
} ACCORD_ITER_CORE;

struct cgroup {
	struct kernfs_node *kn;
} ACCORD_ITER_CORE;

struct sock_cgroup_data {
	struct cgroup *cgroup;
} ACCORD_ITER_CORE;

struct in6_addr {
	union {
		__u32 u6_addr32[4];
	} in6_u;
} ACCORD_ITER_CORE;

struct sock_common {
	__be32 skc_daddr;
	unsigned short skc_family;
	volatile unsigned char skc_state;
	struct in6_addr skc_v6_daddr;
} ACCORD_ITER_CORE;

struct sock {
	struct sock_common __sk_common;
	struct sock_cgroup_data sk_cgrp_data;
} ACCORD_ITER_CORE;

struct tcp_sock {
	__u32 snd_cwnd;
} ACCORD_ITER_CORE;

struct bpf_iter_meta {
	void *seq;
	__u64 session_id;
	__u64 seq_num;
} ACCORD_ITER_CORE;

struct bpf_iter__tcp {
	struct bpf_iter_meta *meta;
	struct sock_common *sk_common;
	__u32 uid;
} ACCORD_ITER_CORE;

/* A prefix-set map reused from the member's pin (same name, same shape:
 * accord_sets.h is the one declaration both sides use). */
#define ACCORD_ITER_CIDR4_SET(param) ACCORD_PREFIX_SET_MAP(param)

/* The member's config map, reused from its pin. */
#define ACCORD_ITER_CONFIG(...)                                              \
	struct accord_config {                                               \
		__VA_ARGS__                                                  \
	};                                                                   \
	struct {                                                             \
		__uint(type, BPF_MAP_TYPE_ARRAY);                            \
		__uint(max_entries, 1);                                      \
		__type(key, __u32);                                          \
		__type(value, struct accord_config);                         \
	} accord_config SEC(".maps");

/* Set by the daemon before loading: the target cgroup's id (its inode). */
const volatile __u64 ACCORD_TARGET_CGROUP = 0;

/* One per socket acted on: what was set and what bpf_setsockopt returned. */
struct accord_iter_record {
	__u32 opt;
	__s32 ret;
};

#define ACCORD_TCP_ESTABLISHED 1
#define ACCORD_AF_INET 2
#define ACCORD_AF_INET6 10
#define ACCORD_SOL_SOCKET 1
#define ACCORD_SO_SNDBUF 7
#define ACCORD_SOL_TCP 6
#define ACCORD_TCP_CONGESTION 13
#define ACCORD_TCP_BPF_IW 1001
#define ACCORD_TCP_BPF_DELACK_MAX 1003
#define ACCORD_TCP_BPF_RTO_MIN 1004

/* The socket as a tcp_sock when it is an established TCP socket (IPv4 or
 * IPv6) charged to the target cgroup; NULL otherwise. */
static __always_inline struct tcp_sock *accord_iter_target_sock(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct tcp_sock *tp;
	struct sock *sk;
	struct cgroup *cg;

	if (!skc)
		return NULL;
	tp = bpf_skc_to_tcp_sock(skc);
	if (!tp)
		return NULL;
	sk = (struct sock *)tp;
	if (sk->__sk_common.skc_state != ACCORD_TCP_ESTABLISHED ||
	    (sk->__sk_common.skc_family != ACCORD_AF_INET &&
	     sk->__sk_common.skc_family != ACCORD_AF_INET6))
		return NULL;
	cg = sk->sk_cgrp_data.cgroup;
	if (!cg || !cg->kn || cg->kn->id != ACCORD_TARGET_CGROUP)
		return NULL;
	return tp;
}

/* The remote address in a prefix-set map, keyed as the members key it:
 * 16 bytes, IPv4 peers IPv4-mapped (an IPv6 socket to an IPv4 peer already
 * holds the mapped form). */
static __always_inline int accord_iter_prefix_match(void *set, struct tcp_sock *tp)
{
	struct sock_common *skc = &((struct sock *)tp)->__sk_common;
	struct accord_lpm_key key = { .prefixlen = 128 };
	__u32 *a = (__u32 *)key.addr;

	if (skc->skc_family == ACCORD_AF_INET) {
		a[2] = bpf_htonl(0x0000ffff);
		a[3] = skc->skc_daddr;
	} else {
		a[0] = skc->skc_v6_daddr.in6_u.u6_addr32[0];
		a[1] = skc->skc_v6_daddr.in6_u.u6_addr32[1];
		a[2] = skc->skc_v6_daddr.in6_u.u6_addr32[2];
		a[3] = skc->skc_v6_daddr.in6_u.u6_addr32[3];
	}
	return bpf_map_lookup_elem(set, &key) != NULL;
}

static __always_inline void accord_iter_report(struct bpf_iter__tcp *ctx, __u32 opt, int ret)
{
	struct accord_iter_record rec = { .opt = opt, .ret = ret };

	bpf_seq_write(ctx->meta->seq, &rec, sizeof(rec));
}

/*
 * The whole iterator of a feature whose member sets one int option from its
 * one scalar param for peers in `prefixes` (init_cwnd, sndbuf, rto_min,
 * delack_max): config layout `{ __u64 param; }`, as the member's.
 */
#define ACCORD_ITER_SCALAR_SETSOCKOPT(param, level, opt)                     \
	ACCORD_ITER_CONFIG(__u64 param;)                                     \
	ACCORD_ITER_CIDR4_SET(prefixes);                                     \
	SEC("iter/tcp")                                                      \
	int accord_iter(struct bpf_iter__tcp *ctx)                           \
	{                                                                    \
		struct tcp_sock *tp = accord_iter_target_sock(ctx);          \
		const struct accord_config *cfg;                             \
		__u32 zero = 0;                                              \
		int val;                                                     \
                                                                             \
		if (!tp)                                                     \
			return 0;                                            \
		cfg = bpf_map_lookup_elem(&accord_config, &zero);            \
		if (!cfg || cfg->param == 0)                                 \
			return 0;                                            \
		if (!accord_iter_prefix_match(&accord_set_prefixes, tp))     \
			return 0;                                            \
		val = (int)cfg->param;                                       \
		accord_iter_report(ctx, opt,                                 \
				   bpf_setsockopt(tp, level, opt, &val, sizeof(val))); \
		return 0;                                                    \
	}

#endif
