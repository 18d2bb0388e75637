// SPDX-License-Identifier: (MIT OR Apache-2.0)
/*
 * sndbuf: a fixed send buffer (SO_SNDBUF, bytes) for connections to
 * configured prefixes, at the established callbacks. As with
 * setsockopt(2), the kernel doubles the value for bookkeeping overhead
 * (getsockopt(SO_SNDBUF) reads 2 * bytes) and locks the buffer, which
 * turns off send-buffer autotuning for the socket.
 */
#include "accord.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

ACCORD_CONFIG(
	__u64 bytes; /* bytes: { type: u32, min: 4096, max: 67108864, default: 4194304 } */
);
ACCORD_CIDR_SET(prefixes);

ACCORD_SOCK_OPS(sndbuf)
{
	const struct accord_config *cfg = accord_config_get();

	if (!cfg || cfg->bytes == 0)
		return;
	if (!accord_op_established(conn))
		return;
	if (!accord_prefix_match(&accord_set_prefixes, conn))
		return;
	accord_setsockopt_u32(ctx, SOL_SOCKET, SO_SNDBUF, (__u32)cfg->bytes);
}
