// SPDX-License-Identifier: (MIT OR Apache-2.0)
/*
 * maxseg_established: jumbo_mss's write moved to the established
 * callbacks, for the test that shows why jumbo_mss writes TCP_MAXSEG at
 * TCP_CONNECT_CB: here the kernel accepts the write but the connection's
 * MSS does not change.
 */
#include "accord.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

ACCORD_CONFIG(
	__u64 mss;
);
ACCORD_CIDR4_SET(prefixes);

ACCORD_SOCK_OPS(maxseg_established)
{
	const struct accord_config *cfg = accord_config_get();

	if (!cfg || cfg->mss == 0 || !accord_op_established(conn))
		return;
	if (!accord_prefix_match(&accord_set_prefixes, conn))
		return;
	accord_setsockopt_u32(ctx, SOL_TCP, TCP_MAXSEG, (__u32)cfg->mss);
}
