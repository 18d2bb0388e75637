/* SPDX-License-Identifier: (MIT OR Apache-2.0) */
/*
 * accord.h: the chaining SDK for accord chain members.
 *
 * A feature author includes this header, declares one member per program
 * with ACCORD_SOCK_OPS(name) { ... } (or ACCORD_XDP / ACCORD_TC), and
 * writes only the body: what to do for one event. The SDK does the rest:
 *
 *   - parses the context into a `struct accord_conn` (family, IPv4-mapped
 *     addresses, ports in host order, op) before the body runs;
 *   - counts the event in `accord_stats`, and every write the body makes
 *     through the wrappers below (accord_setsockopt_u32, accord_reply, ...);
 *   - after the body returns, continues the chain: a tail call into slot
 *     ACCORD_SLOT + 1 of the shared `accord_chain` map. When that slot is
 *     empty or past the end, the tail call falls through and the member
 *     returns the hook's "go on" verdict (sock_ops: 1, XDP: XDP_PASS,
 *     tc: TC_ACT_OK);
 *   - optionally emits sampled debug events into `accord_events`.
 *
 * A complete member (see ebpf/features/init_cwnd.bpf.c):
 *
 *   #include "accord.h"
 *
 *   char LICENSE[] SEC("license") = "Dual MIT/GPL";
 *
 *   ACCORD_CONFIG(
 *       __u64 iw;                  // spec: iw: { type: u32, ... }
 *   );
 *   ACCORD_CIDR_SET(prefixes);     // spec: prefixes: { type: cidr_set }
 *
 *   ACCORD_SOCK_OPS(init_cwnd)
 *   {
 *       const struct accord_config *cfg = accord_config_get();
 *       if (!cfg || !accord_op_established(conn) ||
 *           !accord_prefix_match(&accord_set_prefixes, conn))
 *           return;
 *       accord_setsockopt_u32(ctx, SOL_TCP, ACCORD_TCP_BPF_IW, (__u32)cfg->iw);
 *   }
 *
 * and its spec (specs/features/init_cwnd.yaml) declares exactly that:
 *
 *   reads: [op, family, remote_ip4, local_ip4, remote_ip6, local_ip6,
 *           remote_port, local_port]
 *   writes:
 *     - field: TCP_BPF_IW
 *       value: $iw
 *       when: op in {ACTIVE_ESTABLISHED_CB, PASSIVE_ESTABLISHED_CB}
 *             && remote_ip in $prefixes
 *
 * (`remote_ip` is the peer of either family, IPv4 as ::ffff:a.b.c.d: what
 * the parser puts in conn->remote6 and accord_prefix_match looks up.)
 *
 * Inside the body, `ctx` is the hook's context (struct bpf_sock_ops *) and
 * `conn` the parsed `const struct accord_conn *`. Return early to do
 * nothing; never call bpf_tail_call yourself.
 *
 * The names below (accord_chain, ACCORD_SLOT, ACCORD_DEBUG_SAMPLE, ACCORD_TIMING,
 * accord_config, accord_set_<param>, accord_stats, accord_events) are the
 * chain ABI in ARCHITECTURE.md: the runtime finds maps and globals by these
 * names and has no per-feature code. Do not rename them.
 *
 * Every ctx field the SDK's parser reads (op, family, remote_ip4,
 * local_ip4, remote_ip6, local_ip6, remote_port, local_port) is read by
 * every sock_ops member, so
 * a spec's `reads:` lists them all (ACCORD_SOCK_OPS_PARSER_READS), plus
 * any field the body reads from ctx itself.
 */
#ifndef ACCORD_H
#define ACCORD_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "accord_sets.h"

/* ------------------------------------------------------------------ */
/* Constants the BPF target cannot take from libc headers.            */
/* ------------------------------------------------------------------ */

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif
#ifndef SOL_SOCKET
#define SOL_SOCKET 1
#endif
#ifndef SO_SNDBUF
#define SO_SNDBUF 7
#endif
#ifndef SO_RCVBUF
#define SO_RCVBUF 8
#endif
#ifndef SO_PRIORITY
#define SO_PRIORITY 12
#endif
#ifndef SO_MARK
#define SO_MARK 36
#endif
#ifndef SOL_TCP
#define SOL_TCP 6
#endif
#ifndef TCP_MAXSEG
#define TCP_MAXSEG 2
#endif
#ifndef TCP_WINDOW_CLAMP
#define TCP_WINDOW_CLAMP 10
#endif
#ifndef TCP_CONGESTION
#define TCP_CONGESTION 13
#endif
#ifndef TCP_CA_NAME_MAX
#define TCP_CA_NAME_MAX 16
#endif
/* bpf_setsockopt-only TCP options (include/uapi/linux/bpf.h); older
 * headers lack the newer ones, and they are enum values there, so they
 * are defined under accord's own names. */
#define ACCORD_TCP_BPF_IW 1001
#define ACCORD_TCP_BPF_SNDCWND_CLAMP 1002
#define ACCORD_TCP_BPF_DELACK_MAX 1003
#define ACCORD_TCP_BPF_RTO_MIN 1004

/* ------------------------------------------------------------------ */
/* Load-time constants (ABI: set by the runtime with override_global). */
/* ------------------------------------------------------------------ */

/* This member's slot in accord_chain; it continues with ACCORD_SLOT + 1. */
volatile const __u32 ACCORD_SLOT = 0;
/* 0: no debug events; N: one event in N (sampled with bpf_get_prandom_u32). */
volatile const __u32 ACCORD_DEBUG_SAMPLE = 0;
/* 0: no timing; 1: each run adds its own time (bpf_ktime_get_ns around
 * the body) to accord_stats.run_ns. With 0 the verifier drops the timing
 * code (a dead branch on a load-time constant). */
volatile const __u32 ACCORD_TIMING = 0;

/* Tail-call depth is capped at 33 by the kernel: at most 32 members. */
#define ACCORD_CHAIN_SLOTS 32

/* ------------------------------------------------------------------ */
/* Maps of the chain ABI.                                             */
/* ------------------------------------------------------------------ */

/* The chain: shared by a generation's dispatcher and all its members
 * through bpffs (pinned by name under the loader's map pin path). */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, ACCORD_CHAIN_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} accord_chain SEC(".maps");

/* Per-member counters (one per CPU; user space sums them). */
struct accord_stats {
	__u64 events; /* times this member ran */
	__u64 writes; /* socket writes that succeeded (setsockopt, reply) */
	__u64 errors; /* socket writes the kernel refused */
	__u64 run_ns; /* time spent in this member (ACCORD_TIMING = 1 only) */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct accord_stats);
} accord_stats SEC(".maps");

/* Debug events: one per sampled run, after the body. */
struct accord_event {
	__u64 ts_ns;     /* bpf_ktime_get_ns() */
	__u32 slot;      /* ACCORD_SLOT */
	__u32 op;        /* sock_ops op (0 for XDP) */
	__u32 family;    /* AF_INET / AF_INET6 (0 for XDP) */
	__u32 remote4;   /* IPv4 (or v4-mapped) remote address, host order */
	__u32 local4;    /* IPv4 (or v4-mapped) local address, host order */
	__u16 remote_port; /* host order */
	__u16 local_port;  /* host order */
	__u32 writes;    /* writes this run made */
	__s32 last_err;  /* last error a write returned this run (0: none) */
	/* Appended (the first 40 bytes are the older event): the addresses as
	 * struct accord_conn has them, 16 bytes in network order, IPv4
	 * v4-mapped; all zero when the run parsed none (XDP, tc,
	 * ACCORD_NO_IPV6 on an AF_INET6 socket). 72 bytes in all. */
	__u32 remote6[4];
	__u32 local6[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 * 4096);
} accord_events SEC(".maps");

/* ------------------------------------------------------------------ */
/* Config convention.                                                 */
/* ------------------------------------------------------------------ */

/*
 * Layout rule (ARCHITECTURE.md): `struct accord_config` holds the spec's
 * scalar params (every param that is not a set) in the order the spec's
 * `config:` declares them; each integer, boolean, IPv4 or enum param is
 * one native-endian __u64, each string param is char[16] (NUL-padded).
 * IPv4 params are host order (10.0.0.1 is 0x0a000001).
 *
 *   spec:  config: { iw: {type: u32}, prefixes: {type: cidr4_set},
 *                    cc: {type: string} }
 *   C:     ACCORD_CONFIG(__u64 iw; char cc[16];);
 *          ACCORD_CIDR4_SET(prefixes);
 *
 * A feature without scalar params does not use ACCORD_CONFIG at all.
 * The runtime writes key 0 before the member is put into the chain, and
 * refuses an object whose value size breaks the rule.
 */
#define ACCORD_CONFIG(...)                                                   \
	struct accord_config {                                               \
		__VA_ARGS__                                                  \
	};                                                                   \
	struct {                                                             \
		__uint(type, BPF_MAP_TYPE_ARRAY);                            \
		__uint(max_entries, 1);                                      \
		__type(key, __u32);                                          \
		__type(value, struct accord_config);                         \
	} accord_config SEC(".maps");                                        \
	/* The config, or NULL (never NULL once the runtime loaded it). */  \
	static __always_inline const struct accord_config *                  \
	accord_config_get(void)                                              \
	{                                                                    \
		__u32 zero = 0;                                              \
		return bpf_map_lookup_elem(&accord_config, &zero);           \
	}

/* Declares `accord_set_<param>` for a cidr4_set param; match with
 * accord_prefix_match(&accord_set_<param>, conn). The key and the map are
 * in accord_sets.h (shared with the daemon's iterators). */
#define ACCORD_CIDR4_SET(param) ACCORD_PREFIX_SET_MAP(param)

/* The same map for a cidr6_set or a mixed cidr_set param (the runtime
 * fills IPv6 prefixes at their length, IPv4 ones IPv4-mapped). */
#define ACCORD_CIDR_SET(param) ACCORD_CIDR4_SET(param)

/* Declares `accord_set_<param>` for a port_set param (host-order keys);
 * match with accord_port_in(&accord_set_<param>, port). */
#define ACCORD_PORT_SET(param)                                               \
	struct {                                                             \
		__uint(type, BPF_MAP_TYPE_HASH);                             \
		__uint(max_entries, 1024);                                   \
		__type(key, __u16);                                          \
		__type(value, __u8);                                         \
	} accord_set_##param SEC(".maps")

/* ------------------------------------------------------------------ */
/* The connection, parsed.                                            */
/* ------------------------------------------------------------------ */

struct accord_conn {
	__u32 op;          /* BPF_SOCK_OPS_* */
	__u32 family;      /* AF_INET or AF_INET6 */
	/* Addresses as 16 bytes in network order; IPv4 is v4-mapped. */
	__u32 remote6[4];
	__u32 local6[4];
	/* Host-order IPv4 addresses (10.0.0.1 is 0x0a000001), valid when
	 * is_v4 (AF_INET, or AF_INET6 with v4-mapped addresses). */
	__u32 remote4;
	__u32 local4;
	__u16 remote_port; /* host order */
	__u16 local_port;  /* host order */
	__u8 is_v4;
	__u8 has_addr;     /* remote6/local6 hold the addresses (AF_INET, AF_INET6) */
};

/* The ctx fields the parser reads: list them in every sock_ops spec's
 * `reads:` (the spec must declare every field the program reads). */
#ifndef ACCORD_NO_IPV6
#define ACCORD_SOCK_OPS_PARSER_READS \
	"op, family, remote_ip4, local_ip4, remote_ip6, local_ip6, remote_port, local_port"
#else
#define ACCORD_SOCK_OPS_PARSER_READS \
	"op, family, remote_ip4, local_ip4, remote_port, local_port"
#endif

static __always_inline int accord_is_v4_mapped(const __u32 a[4])
{
	return a[0] == 0 && a[1] == 0 && a[2] == bpf_htonl(0x0000ffff);
}

/*
 * sock_ops byte orders (checked on kernel 6.18 by verifier-tests'
 * conn_probe test): remote_ip4/local_ip4/ip6 are network order;
 * remote_port is the network-order port in the upper 16 bits of the u32
 * (so bpf_ntohl(remote_port) is the host-order port); local_port is
 * already host order.
 *
 * IPv6: the parser normalises both families. On AF_INET6 it reads
 * remote_ip6/local_ip6 (16 bytes each, as-is), so remote6 is the peer the
 * way the guard field `remote_ip` defines it: remote_ip6 on AF_INET6
 * (an IPv4 peer of a dual-stack socket is ::ffff:a.b.c.d there, and
 * is_v4 is set), ::ffff:remote_ip4 on AF_INET. A spec's `reads:` lists
 * ACCORD_SOCK_OPS_PARSER_READS. Define ACCORD_NO_IPV6 before including
 * accord.h for the IPv4-only parser (an AF_INET6 socket then parses with
 * has_addr = 0 and prefix sets never match it); ACCORD_IPV6 is accepted
 * and changes nothing.
 */
static __always_inline void accord_parse_sock_ops(struct bpf_sock_ops *ctx,
						  struct accord_conn *c)
{
	c->op = ctx->op;
	c->family = ctx->family;
	c->remote_port = (__u16)bpf_ntohl(ctx->remote_port);
	c->local_port = (__u16)ctx->local_port;
	if (c->family == AF_INET) {
		__u32 r = ctx->remote_ip4, l = ctx->local_ip4;

		c->remote6[2] = bpf_htonl(0x0000ffff);
		c->remote6[3] = r;
		c->local6[2] = bpf_htonl(0x0000ffff);
		c->local6[3] = l;
		c->is_v4 = 1;
		c->has_addr = 1;
		c->remote4 = bpf_ntohl(r);
		c->local4 = bpf_ntohl(l);
		return;
	}
#ifndef ACCORD_NO_IPV6
	if (c->family == AF_INET6) {
		c->remote6[0] = ctx->remote_ip6[0];
		c->remote6[1] = ctx->remote_ip6[1];
		c->remote6[2] = ctx->remote_ip6[2];
		c->remote6[3] = ctx->remote_ip6[3];
		c->local6[0] = ctx->local_ip6[0];
		c->local6[1] = ctx->local_ip6[1];
		c->local6[2] = ctx->local_ip6[2];
		c->local6[3] = ctx->local_ip6[3];
		c->has_addr = 1;
		c->is_v4 = accord_is_v4_mapped(c->remote6);
		c->remote4 = c->is_v4 ? bpf_ntohl(c->remote6[3]) : 0;
		c->local4 = accord_is_v4_mapped(c->local6) ? bpf_ntohl(c->local6[3]) : 0;
	}
#endif
}

/* Longest-prefix lookup of the remote address (IPv4-mapped for IPv4) in a
 * prefix-set map; false for a connection whose addresses were not parsed.
 * A cidr4_set holds only mapped prefixes, so it matches IPv4 peers of
 * both socket families and no IPv6 peer. */
static __always_inline int accord_prefix_match(void *set, const struct accord_conn *c)
{
	struct accord_lpm_key key = { .prefixlen = 128 };

	if (!c->has_addr)
		return 0;
	__builtin_memcpy(key.addr, c->remote6, sizeof(key.addr));
	return bpf_map_lookup_elem(set, &key) != NULL;
}

/* True at the two "connection established" callbacks. */
static __always_inline int accord_op_established(const struct accord_conn *c)
{
	return c->op == BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB ||
	       c->op == BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB;
}

/* Membership of a host-order port in a port_set map. */
static __always_inline int accord_port_in(void *set, __u16 port)
{
	return bpf_map_lookup_elem(set, &port) != NULL;
}

/* ------------------------------------------------------------------ */
/* Counters and write wrappers.                                       */
/* ------------------------------------------------------------------ */

/* What one run of a member did; the wrappers fill it, the SDK reports it. */
struct accord_run {
	__u32 writes;
	__s32 last_err;
};

static __always_inline struct accord_stats *accord_stats_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&accord_stats, &zero);
}

static __always_inline void accord_count_write(struct accord_run *run, long ret)
{
	struct accord_stats *s = accord_stats_get();

	if (ret == 0) {
		run->writes++;
		if (s)
			__sync_fetch_and_add(&s->writes, 1);
	} else {
		run->last_err = (__s32)ret;
		if (s)
			__sync_fetch_and_add(&s->errors, 1);
	}
}

/*
 * bpf_setsockopt with a u32 value, counted. Returns the helper's result
 * (0 or -errno). The kernel allows bpf_setsockopt only on full sockets at
 * the "locked" callbacks (TCP_CONNECT_CB, *_ESTABLISHED_CB, TCP_LISTEN_CB,
 * RTO_CB, RETRANS_CB, STATE_CB, RTT_CB, header option callbacks); not at
 * TIMEOUT_INIT/RWND_INIT/NEEDS_ECN for request sockets. A refusal is
 * counted as an error, never fatal for the chain.
 */
#define accord_setsockopt_u32(ctx, level, opt, val)                          \
	accord_setsockopt_u32_(ctx, __accord_run, level, opt, val)

static __always_inline long accord_setsockopt_u32_(struct bpf_sock_ops *ctx,
						   struct accord_run *run, int level,
						   int opt, __u32 val)
{
	int v = (int)val;
	long ret = bpf_setsockopt(ctx, level, opt, &v, sizeof(v));

	accord_count_write(run, ret);
	return ret;
}

/* bpf_setsockopt with a string value (TCP_CONGESTION), counted. `str` must
 * be a char array (a literal, a `static const char x[]`, or a char[16]
 * config field), not a pointer: its size is taken with sizeof. */
#define accord_setsockopt_str(ctx, level, opt, str)                          \
	({                                                                   \
		_Static_assert(!__builtin_types_compatible_p(__typeof__(str),\
				__typeof__(&(str)[0])),                      \
			       "accord_setsockopt_str needs a char array");  \
		accord_setsockopt_str_(ctx, __accord_run, level, opt, str,   \
				       sizeof(str));                         \
	})

static __always_inline long accord_setsockopt_str_(struct bpf_sock_ops *ctx,
						   struct accord_run *run, int level,
						   int opt, const char *str, int len)
{
	char buf[TCP_CA_NAME_MAX] = {};

	__builtin_memcpy(buf, str, len < TCP_CA_NAME_MAX ? len : TCP_CA_NAME_MAX);
	/* The kernel reads up to the NUL; pass the whole buffer. */
	long ret = bpf_setsockopt(ctx, level, opt, buf, sizeof(buf));

	accord_count_write(run, ret);
	return ret;
}

/* Store into ctx->reply (meaning depends on op, e.g. the initial window
 * in packets at RWND_INIT), counted as a write. */
#define accord_reply(ctx, val) accord_reply_(ctx, __accord_run, val)

static __always_inline void accord_reply_(struct bpf_sock_ops *ctx,
					  struct accord_run *run, __u32 val)
{
	ctx->reply = val;
	accord_count_write(run, 0);
}

/* ------------------------------------------------------------------ */
/* Debug events.                                                      */
/* ------------------------------------------------------------------ */

static __always_inline void accord_debug(const struct accord_conn *c,
					 const struct accord_run *run)
{
	struct accord_event *e;
	__u32 n = ACCORD_DEBUG_SAMPLE;

	if (n == 0 || (n > 1 && bpf_get_prandom_u32() % n != 0))
		return;
	e = bpf_ringbuf_reserve(&accord_events, sizeof(*e), 0);
	if (!e)
		return;
	e->ts_ns = bpf_ktime_get_ns();
	e->slot = ACCORD_SLOT;
	e->op = c ? c->op : 0;
	e->family = c ? c->family : 0;
	e->remote4 = c ? c->remote4 : 0;
	e->local4 = c ? c->local4 : 0;
	e->remote_port = c ? c->remote_port : 0;
	e->local_port = c ? c->local_port : 0;
	e->writes = run->writes;
	e->last_err = run->last_err;
	if (c) {
		__builtin_memcpy(e->remote6, c->remote6, sizeof(e->remote6));
		__builtin_memcpy(e->local6, c->local6, sizeof(e->local6));
	} else {
		__builtin_memset(e->remote6, 0, sizeof(e->remote6));
		__builtin_memset(e->local6, 0, sizeof(e->local6));
	}
	bpf_ringbuf_submit(e, 0);
}

static __always_inline void accord_count_event(void)
{
	struct accord_stats *s = accord_stats_get();

	if (s)
		__sync_fetch_and_add(&s->events, 1);
}

/* The start of a timed run: 0 when ACCORD_TIMING is off. */
static __always_inline __u64 accord_timing_start(void)
{
	return ACCORD_TIMING ? bpf_ktime_get_ns() : 0;
}

/* Adds the time since `start` to run_ns, when ACCORD_TIMING is on. */
static __always_inline void accord_timing_end(__u64 start)
{
	struct accord_stats *s;

	if (!ACCORD_TIMING)
		return;
	s = accord_stats_get();
	if (s)
		__sync_fetch_and_add(&s->run_ns, bpf_ktime_get_ns() - start);
}

/* ------------------------------------------------------------------ */
/* Member declarations.                                               */
/* ------------------------------------------------------------------ */

/*
 * ACCORD_SOCK_OPS(name) { body }
 *
 * Declares the sock_ops program `name` (section "sockops"). The body sees
 * `struct bpf_sock_ops *ctx` and `const struct accord_conn *conn`, and
 * returns nothing. Afterwards the chain continues with slot
 * ACCORD_SLOT + 1; at the end of the chain the member returns 1 (the
 * kernel honours ctx->reply only if every program returns 1).
 */
#define ACCORD_SOCK_OPS(name)                                                \
	static __always_inline void name##_body(struct bpf_sock_ops *ctx,    \
						const struct accord_conn *conn, \
						struct accord_run *run);     \
	SEC("sockops") int name(struct bpf_sock_ops *ctx)                    \
	{                                                                    \
		struct accord_conn conn = {};                                \
		struct accord_run run = {};                                  \
		__u64 t0 = accord_timing_start();                            \
									     \
		accord_count_event();                                        \
		accord_parse_sock_ops(ctx, &conn);                           \
		name##_body(ctx, &conn, &run);                               \
		accord_debug(&conn, &run);                                   \
		accord_timing_end(t0);                                       \
		bpf_tail_call(ctx, &accord_chain, ACCORD_SLOT + 1);          \
		return 1;                                                    \
	}                                                                    \
	static __always_inline void name##_body(struct bpf_sock_ops *ctx,    \
						const struct accord_conn *conn, \
						struct accord_run *__accord_run)

/*
 * The XDP and tc member forms differ only in section, context type and the
 * verdict that continues the chain: one body serves both.
 */
#define __ACCORD_VERDICT_MEMBER(name, section, ctx_type, pass)              \
	static __always_inline int name##_body(ctx_type *ctx,                \
					       struct accord_run *run);      \
	SEC(section) int name(ctx_type *ctx)                                 \
	{                                                                    \
		struct accord_run run = {};                                  \
		int verdict;                                                 \
		__u64 t0 = accord_timing_start();                            \
									     \
		accord_count_event();                                        \
		verdict = name##_body(ctx, &run);                            \
		accord_debug(NULL, &run);                                    \
		accord_timing_end(t0);                                       \
		if (verdict != (pass))                                       \
			return verdict;                                      \
		bpf_tail_call(ctx, &accord_chain, ACCORD_SLOT + 1);          \
		return (pass);                                               \
	}                                                                    \
	static __always_inline int name##_body(ctx_type *ctx,                \
					       struct accord_run *__accord_run)

/*
 * ACCORD_XDP(name) { body; return XDP_PASS; }
 *
 * Declares the XDP program `name` (section "xdp"). The body sees
 * `struct xdp_md *ctx` and returns an XDP verdict: XDP_PASS continues the
 * chain with slot ACCORD_SLOT + 1 (XDP_PASS at its end); any other
 * verdict ends the chain at once with that verdict.
 */
#define ACCORD_XDP(name) __ACCORD_VERDICT_MEMBER(name, "xdp", struct xdp_md, XDP_PASS)

/*
 * ACCORD_TC(name) { body; return TC_ACT_OK; }
 *
 * Declares the tc (sched_cls, direct-action) program `name` (section
 * "classifier", which aya and libbpf both know). The body sees
 * `struct __sk_buff *ctx` and returns a tc verdict: TC_ACT_OK continues
 * the chain with slot ACCORD_SLOT + 1 (TC_ACT_OK at its end); any other
 * verdict ends the chain at once with that verdict.
 */
#ifndef TC_ACT_OK
#define TC_ACT_OK 0
#endif
#ifndef TC_ACT_SHOT
#define TC_ACT_SHOT 2
#endif
#define ACCORD_TC(name)                                                      \
	__ACCORD_VERDICT_MEMBER(name, "classifier", struct __sk_buff, TC_ACT_OK)

#endif /* ACCORD_H */
