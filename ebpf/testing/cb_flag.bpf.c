// SPDX-License-Identifier: (MIT OR Apache-2.0)
/*
 * cb_flag: asks for one extra sock_ops callback (config `flag`, a
 * BPF_SOCK_OPS_*_CB_FLAG) at the established callbacks, either by
 * assignment (`or` = 0: bpf_sock_ops_cb_flags_set(ctx, flag), which
 * replaces every flag set before) or as a read-modify-write (`or` = 1:
 * the current flags | flag), and counts the callbacks it sees per op in
 * `cb_counts`, so verifier-tests/tests/semantics_e2e.rs can show one
 * member's callbacks disappear when another member replaces the flags.
 */
#include "accord.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

ACCORD_CONFIG(
	__u64 flag;
	__u64 or;
);

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 32);
	__type(key, __u32);
	__type(value, __u64);
} cb_counts SEC(".maps");

ACCORD_SOCK_OPS(cb_flag)
{
	const struct accord_config *cfg = accord_config_get();
	__u32 op = conn->op;
	__u64 *n = bpf_map_lookup_elem(&cb_counts, &op);

	if (n)
		__sync_fetch_and_add(n, 1);
	if (!cfg || !accord_op_established(conn))
		return;
	if (cfg->or)
		bpf_sock_ops_cb_flags_set(ctx, ctx->bpf_sock_ops_cb_flags | (__u32)cfg->flag);
	else
		bpf_sock_ops_cb_flags_set(ctx, (__u32)cfg->flag);
}
