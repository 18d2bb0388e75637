// SPDX-License-Identifier: (MIT OR Apache-2.0)
/*
 * rto_min: the minimum retransmission timeout (TCP_BPF_RTO_MIN, in
 * microseconds) for low-latency peers in configured prefixes, at the
 * established callbacks. The kernel's default minimum is 200 ms; inside a
 * data centre a few milliseconds recover losses far sooner. The kernel
 * refuses values above its TCP_RTO_MIN (200 ms) and below two jiffies
 * (after rounding up to jiffies: 5 ms works with HZ >= 250, HZ=100 kernels
 * need more than 10 ms); the spec's range is what HZ >= 250 accepts.
 */
#include "accord.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

ACCORD_CONFIG(
	__u64 rto_min_us; /* rto_min_us: { type: u32, min: 5000, max: 200000, default: 5000 } */
);
ACCORD_CIDR_SET(prefixes);

ACCORD_SOCK_OPS(rto_min)
{
	const struct accord_config *cfg = accord_config_get();

	if (!cfg || cfg->rto_min_us == 0)
		return;
	if (!accord_op_established(conn))
		return;
	if (!accord_prefix_match(&accord_set_prefixes, conn))
		return;
	accord_setsockopt_u32(ctx, SOL_TCP, ACCORD_TCP_BPF_RTO_MIN, (__u32)cfg->rto_min_us);
}
