// SPDX-License-Identifier: (MIT OR Apache-2.0)
/* Audit test object: writes TCP_BPF_IW while its spec declares only
 * SO_RCVBUF. The audit must report the undeclared write. */
#include "accord.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

ACCORD_SOCK_OPS(undeclared_setsockopt)
{
	int iw = 40;

	if (!accord_op_established(conn))
		return;
	bpf_setsockopt(ctx, SOL_TCP, ACCORD_TCP_BPF_IW, &iw, sizeof(iw)); /* AUDIT-HERE */
}
