// SPDX-License-Identifier: (MIT OR Apache-2.0)
/*
 * init_cwnd: raise the initial congestion window (TCP_BPF_IW) for
 * connections to configured prefixes, at the established callbacks (the
 * kernel refuses TCP_BPF_IW once data has been sent, so this is the last
 * safe moment and the first with a full socket on both sides).
 *
 * Spec: specs/features/init_cwnd.yaml. This file is the SDK's reference
 * example: config struct, one prefix set, one counted write.
 */
#include "accord.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Scalar params in spec order, one __u64 each (the layout rule). */
ACCORD_CONFIG(
	__u64 iw; /* iw: { type: u32, min: 1, max: 1024, default: 40 } */
);
/* prefixes: { type: cidr_set, default: [10.0.0.0/8] } */
ACCORD_CIDR_SET(prefixes);

ACCORD_SOCK_OPS(init_cwnd)
{
	const struct accord_config *cfg = accord_config_get();

	if (!cfg || cfg->iw == 0)
		return;
	if (!accord_op_established(conn))
		return;
	if (!accord_prefix_match(&accord_set_prefixes, conn))
		return;
	accord_setsockopt_u32(ctx, SOL_TCP, ACCORD_TCP_BPF_IW, (__u32)cfg->iw);
}
