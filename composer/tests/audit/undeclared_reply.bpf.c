// SPDX-License-Identifier: (MIT OR Apache-2.0)
/* Audit test object: stores to ctx->reply at RWND_INIT; its spec declares
 * no write at all. */
#include "accord.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

ACCORD_SOCK_OPS(undeclared_reply)
{
	if (conn->op != BPF_SOCK_OPS_RWND_INIT)
		return;
	ctx->reply = 20; /* AUDIT-HERE */
}
