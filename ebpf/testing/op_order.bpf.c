// SPDX-License-Identifier: (MIT OR Apache-2.0)
/*
 * op_order: records the sock_ops callbacks each connection end sees, in
 * order, in `op_log` (keyed by local port << 16 | remote port: one entry
 * per end; an end's callbacks run one at a time under its socket's lock),
 * and at the established callbacks asks for every optional callback (RTO,
 * retransmission, state, RTT and the header-option ones), so
 * verifier-tests/tests/semantics_e2e.rs can compare the order one end
 * sees with the catalog's `connection_ends:`.
 */
#include "accord.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define OPS_PER_END 64

struct op_seq {
	__u32 n;
	__u8 op[OPS_PER_END];
	__u8 fullsock[OPS_PER_END];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, struct op_seq);
} op_log SEC(".maps");

ACCORD_SOCK_OPS(op_order)
{
	__u32 key = (conn->local_port << 16) | (conn->remote_port & 0xffff);
	struct op_seq *s = bpf_map_lookup_elem(&op_log, &key);

	if (!s) {
		struct op_seq fresh = {};

		bpf_map_update_elem(&op_log, &key, &fresh, BPF_NOEXIST);
		s = bpf_map_lookup_elem(&op_log, &key);
	}
	if (s) {
		__u32 i = s->n;

		if (i < OPS_PER_END) {
			s->op[i] = (__u8)conn->op;
			s->fullsock[i] = (__u8)ctx->is_fullsock;
			s->n = i + 1;
		}
	}
	if (accord_op_established(conn))
		bpf_sock_ops_cb_flags_set(ctx, ctx->bpf_sock_ops_cb_flags | 0x7f);
}
