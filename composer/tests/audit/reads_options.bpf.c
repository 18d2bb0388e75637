// SPDX-License-Identifier: (MIT OR Apache-2.0)
/* Audit test object: reads read-only context fields (snd_cwnd, srtt_us)
 * and socket options with bpf_getsockopt (the saved SYN, SO_MARK); none of
 * it changes the socket, all of it is a read the spec lists or the audit
 * warns about. */
#include "accord.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* TCP_BPF_SYN: an enum value of linux/bpf.h. */
#define SAVED_SYN 1005

ACCORD_SOCK_OPS(reads_options)
{
	char syn[60];
	int mark = 0;

	if (conn->op != BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB)
		return;
	if (bpf_getsockopt(ctx, SOL_TCP, SAVED_SYN, syn, sizeof(syn)) < 0)
		return;
	bpf_getsockopt(ctx, SOL_SOCKET, SO_MARK, &mark, sizeof(mark));
	if (ctx->snd_cwnd > 10 && ctx->srtt_us < 1000 && mark == 0)
		accord_setsockopt_u32(ctx, SOL_TCP, ACCORD_TCP_BPF_SNDCWND_CLAMP, 20);
}
