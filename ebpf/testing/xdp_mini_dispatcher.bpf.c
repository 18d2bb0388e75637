// SPDX-License-Identifier: (MIT OR Apache-2.0)
/*
 * xdp_mini_dispatcher: the smallest XDP dispatcher, for tests and
 * BPF_PROG_TEST_RUN benchmarks: tail-calls slot 0 of accord_chain, XDP_PASS
 * when the slot is empty.
 */
#include "accord.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

SEC("xdp")
int xdp_mini_dispatcher(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &accord_chain, 0);
	return XDP_PASS;
}
