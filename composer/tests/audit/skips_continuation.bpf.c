// SPDX-License-Identifier: (MIT OR Apache-2.0)
/* Audit test object: written without ACCORD_SOCK_OPS, it returns early at
 * TCP_CONNECT_CB without continuing the chain, silently cutting off every
 * member after it on that path. */
#include "accord.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

SEC("sockops")
int skips_continuation(struct bpf_sock_ops *ctx)
{
	if (ctx->op == BPF_SOCK_OPS_TCP_CONNECT_CB) /* AUDIT-HERE */
		return 1;
	bpf_tail_call(ctx, &accord_chain, ACCORD_SLOT + 1);
	return 1;
}
