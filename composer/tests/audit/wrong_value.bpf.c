// SPDX-License-Identifier: (MIT OR Apache-2.0)
/* Audit test object: its spec declares reply = 10 and TCP_BPF_IW = 10;
 * the code writes 20 and 40. The solver would reason about the declared
 * values, so the difference is an undeclared effect. */
#include "accord.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

ACCORD_SOCK_OPS(wrong_value)
{
	if (conn->op == BPF_SOCK_OPS_RWND_INIT) {
		ctx->reply = 20;
		return;
	}
	if (accord_op_established(conn))
		accord_setsockopt_u32(ctx, SOL_TCP, ACCORD_TCP_BPF_IW, 40);
}
