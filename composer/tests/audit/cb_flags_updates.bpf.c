// SPDX-License-Identifier: (MIT OR Apache-2.0)
/* Audit test object: three ways to ask for RTT callbacks.
 * flags_or: a read-modify-write (the current flags | the RTT flag);
 * flags_set: an assignment (replaces every flag set before);
 * flags_clear: reads the current flags but clears a bit (not an OR). */
#include "accord.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

ACCORD_SOCK_OPS(flags_or)
{
	if (accord_op_established(conn))
		bpf_sock_ops_cb_flags_set(ctx, ctx->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_RTT_CB_FLAG); /* AUDIT-OR */
}

ACCORD_SOCK_OPS(flags_set)
{
	if (accord_op_established(conn))
		bpf_sock_ops_cb_flags_set(ctx, BPF_SOCK_OPS_RTT_CB_FLAG); /* AUDIT-SET */
}

ACCORD_SOCK_OPS(flags_clear)
{
	if (accord_op_established(conn))
		bpf_sock_ops_cb_flags_set(ctx, ctx->bpf_sock_ops_cb_flags & ~BPF_SOCK_OPS_RTO_CB_FLAG); /* AUDIT-CLEAR */
}
