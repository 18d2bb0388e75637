// SPDX-License-Identifier: (MIT OR Apache-2.0)
/*
 * rwnd_init: the initial receive window, in packets (MSS units), for
 * connections to configured prefixes. The kernel asks at
 * BPF_SOCK_OPS_RWND_INIT (active side in tcp_connect_init, passive side
 * for the request socket) and takes `reply` when it is non-zero; the
 * window it uses is min(its own choice, reply * mss), so this can only
 * lower the initial window. No bpf_setsockopt here: at RWND_INIT the
 * socket may be a request socket, where setsockopt is refused.
 */
#include "accord.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

ACCORD_CONFIG(
	__u64 rwnd; /* rwnd: { type: u32, min: 1, max: 65535, default: 10 } */
);
ACCORD_CIDR_SET(prefixes);

ACCORD_SOCK_OPS(rwnd_init)
{
	const struct accord_config *cfg = accord_config_get();

	if (!cfg || cfg->rwnd == 0)
		return;
	if (conn->op != BPF_SOCK_OPS_RWND_INIT)
		return;
	if (!accord_prefix_match(&accord_set_prefixes, conn))
		return;
	accord_reply(ctx, (__u32)cfg->rwnd);
}
