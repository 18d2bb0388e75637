// SPDX-License-Identifier: (MIT OR Apache-2.0)
/* Audit test object: its config has `iw` and `clamp`; it writes
 * TCP_BPF_IW from `clamp`, while the test's spec declares `value: $iw`. */
#include "accord.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

ACCORD_CONFIG(
	__u64 iw;
	__u64 clamp;
);

ACCORD_SOCK_OPS(wrong_param)
{
	const struct accord_config *cfg = accord_config_get();
	__u32 v;

	if (!cfg || !accord_op_established(conn))
		return;
	v = (__u32)cfg->clamp;
	bpf_setsockopt(ctx, SOL_TCP, ACCORD_TCP_BPF_IW, &v, sizeof(v)); /* AUDIT-HERE */
}
