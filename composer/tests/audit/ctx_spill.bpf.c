// SPDX-License-Identifier: (MIT OR Apache-2.0)
/* Audit test object: the context pointer goes through the stack (a
 * volatile local forces the spill and the reload) and a helper call before
 * the store to reply. The audit must still see a store to the context. */
#include "accord.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

ACCORD_SOCK_OPS(ctx_spill)
{
	struct bpf_sock_ops *volatile saved = ctx;

	if (bpf_get_prandom_u32() & 1)
		return;
	saved->reply = 7; /* AUDIT-HERE */
}
