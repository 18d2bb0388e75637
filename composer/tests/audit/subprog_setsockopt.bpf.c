// SPDX-License-Identifier: (MIT OR Apache-2.0)
/* Audit test object: the setsockopt is in a BPF-to-BPF subprogram called
 * with two different options; the spec declares only one of them. */
#include "accord.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

static __attribute__((noinline)) int set_opt(struct bpf_sock_ops *ctx, int opt, int v)
{
	return bpf_setsockopt(ctx, SOL_TCP, opt, &v, sizeof(v)); /* AUDIT-HERE */
}

ACCORD_SOCK_OPS(subprog_setsockopt)
{
	if (!accord_op_established(conn))
		return;
	set_opt(ctx, ACCORD_TCP_BPF_IW, 40);
	set_opt(ctx, ACCORD_TCP_BPF_SNDCWND_CLAMP, 80);
}
