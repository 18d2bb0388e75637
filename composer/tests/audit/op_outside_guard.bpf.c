// SPDX-License-Identifier: (MIT OR Apache-2.0)
/* Audit test object: writes TCP_BPF_IW at the established callbacks and
 * also at TCP_CONNECT_CB; the test's spec allows only the established ones,
 * so the write at TCP_CONNECT_CB is an effect the composer never saw. */
#include "accord.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

ACCORD_SOCK_OPS(op_outside_guard)
{
	int iw = 40;

	if (!accord_op_established(conn) &&
	    conn->op != BPF_SOCK_OPS_TCP_CONNECT_CB)
		return;
	bpf_setsockopt(ctx, SOL_TCP, ACCORD_TCP_BPF_IW, &iw, sizeof(iw)); /* AUDIT-HERE */
}
