// SPDX-License-Identifier: (MIT OR Apache-2.0)
/*
 * bad_config_layout: a member whose accord_config breaks the layout rule
 * for a spec with one u32 param (a __u32 field: 4 bytes, not 8), for tests
 * that the runtime refuses a value_size mismatch. It loads fine.
 */
#include "accord.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

ACCORD_CONFIG(
	__u32 iw; /* wrong on purpose: the rule says __u64 */
);

ACCORD_SOCK_OPS(bad_config_layout)
{
	const struct accord_config *cfg = accord_config_get();

	if (cfg && cfg->iw && accord_op_established(conn))
		accord_setsockopt_u32(ctx, SOL_TCP, ACCORD_TCP_BPF_IW, cfg->iw);
}
