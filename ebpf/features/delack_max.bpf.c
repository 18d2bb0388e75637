// SPDX-License-Identifier: (MIT OR Apache-2.0)
/*
 * delack_max: the maximum delayed-ACK timeout (TCP_BPF_DELACK_MAX, in
 * microseconds) for connections to configured prefixes, at the
 * established callbacks. The kernel's default is 200 ms; low-latency
 * peers ACK sooner. The value itself is not in TCP_INFO; the tests see it
 * as the peer's RTT to a receiver that does not answer (the delayed-ACK
 * timer fires after 5 ms instead of 40 ms). As for rto_min, the
 * kernel refuses less than two jiffies (5 ms works with HZ >= 250).
 */
#include "accord.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

ACCORD_CONFIG(
	__u64 delack_max_us; /* delack_max_us: { type: u32, min: 5000, max: 200000, default: 5000 } */
);
ACCORD_CIDR_SET(prefixes);

ACCORD_SOCK_OPS(delack_max)
{
	const struct accord_config *cfg = accord_config_get();

	if (!cfg || cfg->delack_max_us == 0)
		return;
	if (!accord_op_established(conn))
		return;
	if (!accord_prefix_match(&accord_set_prefixes, conn))
		return;
	accord_setsockopt_u32(ctx, SOL_TCP, ACCORD_TCP_BPF_DELACK_MAX, (__u32)cfg->delack_max_us);
}
