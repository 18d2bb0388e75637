// SPDX-License-Identifier: (MIT OR Apache-2.0)
/*
 * broken_ctx_access: a member the verifier must reject (a read past the
 * end of struct bpf_sock_ops), for tests that a rejection surfaces with
 * the verifier log. It compiles cleanly on purpose.
 */
#include "accord.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

ACCORD_SOCK_OPS(broken_ctx_access)
{
	volatile __u32 *past_end = (volatile __u32 *)((char *)ctx + 4096);

	if (*past_end == 42)
		accord_reply(ctx, 1);
}
