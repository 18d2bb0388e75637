// SPDX-License-Identifier: (MIT OR Apache-2.0)
/*
 * Which bpf_setsockopt options this kernel accepts: the BPF adapter's probe
 * (runtime/src/adapter/probe.rs) fills `probe_opts` with the catalog's
 * setsockopt options (level, option, candidate values), opens one loopback
 * TCP connection whose accepted end has local port PROBE_PORT, and reads
 * this iterator once. For that socket the program calls bpf_setsockopt with
 * each option, trying its values in order until one is accepted, and
 * writes one `struct probe_result` per option (its index and the last
 * return). iter/tcp shares the option allow-list with sock_ops
 * (`_bpf_setsockopt`), so an option refused here is refused to a member.
 */
#include "../iter/accord_iter.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define PROBE_MAX_OPTS 32
#define PROBE_MAX_VALS 4

struct probe_opt {
	__u32 level;
	__u32 optname;
	__u32 is_string; /* 1: pass `str` (16 bytes, NUL-padded) */
	__u32 nvals;     /* else: try vals[0..nvals) until one is accepted */
	__u32 vals[PROBE_MAX_VALS];
	char str[16];
};

struct probe_result {
	__u32 index;
	__s32 ret;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PROBE_MAX_OPTS);
	__type(key, __u32);
	__type(value, struct probe_opt);
} probe_opts SEC(".maps");

const volatile __u32 PROBE_PORT = 0;
const volatile __u32 PROBE_COUNT = 0;

/* The local port (host order) and state, matched by name through CO-RE. */
struct sock_common___probe {
	__u16 skc_num;
	volatile unsigned char skc_state;
} ACCORD_ITER_CORE;

SEC("iter/tcp")
int accord_probe_setsockopt(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct sock_common___probe *p = (void *)skc;
	struct tcp_sock *tp;
	__u32 i, j;

	if (!skc || p->skc_num != PROBE_PORT || p->skc_state != ACCORD_TCP_ESTABLISHED)
		return 0;
	tp = bpf_skc_to_tcp_sock(skc);
	if (!tp)
		return 0;
	for (i = 0; i < PROBE_MAX_OPTS; i++) {
		struct probe_result r = { .index = i, .ret = -22 };
		struct probe_opt *o;
		__u32 key = i;

		if (i >= PROBE_COUNT)
			break;
		o = bpf_map_lookup_elem(&probe_opts, &key);
		if (!o)
			break;
		if (o->is_string) {
			char buf[16];

			__builtin_memcpy(buf, o->str, sizeof(buf));
			r.ret = bpf_setsockopt(tp, o->level, o->optname, buf, sizeof(buf));
		} else {
			for (j = 0; j < PROBE_MAX_VALS; j++) {
				int v;

				if (j >= o->nvals)
					break;
				v = o->vals[j];
				r.ret = bpf_setsockopt(tp, o->level, o->optname, &v, sizeof(v));
				if (r.ret == 0)
					break;
			}
		}
		bpf_seq_write(ctx->meta->seq, &r, sizeof(r));
	}
	return 0;
}
