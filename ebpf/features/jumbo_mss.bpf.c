// SPDX-License-Identifier: (MIT OR Apache-2.0)
/*
 * jumbo_mss: the MSS (TCP_MAXSEG) for connections to configured prefixes.
 *
 * Where the kernel honours it: TCP_MAXSEG sets tp->rx_opt.user_mss, which
 * the kernel reads only when it builds the SYN (tcp_connect_init clamps
 * the advertised MSS) and when it processes the SYN-ACK (mss_clamp). So
 * the write must happen at BPF_SOCK_OPS_TCP_CONNECT_CB, which runs right
 * before tcp_connect_init; at the established callbacks it is accepted
 * but has no effect on the connection (verified by verifier-tests). The
 * passive side cannot be tuned per peer this way: the SYN-ACK's MSS is
 * chosen from the listener before any full child socket exists.
 *
 * TCP_MAXSEG can only lower the MSS below what the route's MTU gives, so
 * "jumbo" here means: the MSS to use towards peers reached over a
 * jumbo-frame path that is larger than the default path's (or a smaller
 * one for tunnels); it never makes frames larger than the MTU.
 */
#include "accord.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

ACCORD_CONFIG(
	__u64 mss; /* mss: { type: u32, min: 536, max: 65495, default: 8948 } */
);
ACCORD_CIDR_SET(prefixes);

ACCORD_SOCK_OPS(jumbo_mss)
{
	const struct accord_config *cfg = accord_config_get();

	if (!cfg || cfg->mss == 0)
		return;
	if (conn->op != BPF_SOCK_OPS_TCP_CONNECT_CB)
		return;
	if (!accord_prefix_match(&accord_set_prefixes, conn))
		return;
	accord_setsockopt_u32(ctx, SOL_TCP, TCP_MAXSEG, (__u32)cfg->mss);
}
