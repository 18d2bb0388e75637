// SPDX-License-Identifier: (MIT OR Apache-2.0)
/* Audit test object: its spec declares TCP_BPF_IW, but the code sets the
 * window clamp instead (a plausible copy-paste slip). */
#include "accord.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

ACCORD_SOCK_OPS(wrong_option)
{
	int v = 40;

	if (!accord_op_established(conn))
		return;
	bpf_setsockopt(ctx, SOL_TCP, ACCORD_TCP_BPF_SNDCWND_CLAMP, &v, sizeof(v)); /* AUDIT-HERE */
}
