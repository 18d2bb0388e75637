// SPDX-License-Identifier: (MIT OR Apache-2.0)
/* Audit test object: asks for RTT callbacks (cb_flags, a helper write the
 * catalog knows) and writes a TCP header option (a helper whose effect the
 * catalog does not describe). */
#include "accord.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

ACCORD_SOCK_OPS(helper_effects)
{
	__u32 opt = 0x01020304;

	if (conn->op == BPF_SOCK_OPS_WRITE_HDR_OPT_CB) {
		bpf_store_hdr_opt(ctx, &opt, sizeof(opt), 0); /* AUDIT-HERE */
		return;
	}
	if (accord_op_established(conn))
		bpf_sock_ops_cb_flags_set(ctx, BPF_SOCK_OPS_RTT_CB_FLAG);
}
