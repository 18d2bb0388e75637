// SPDX-License-Identifier: (MIT OR Apache-2.0)
/*
 * tc_mini_dispatcher: the smallest tc dispatcher, for tests: tail-calls
 * slot 0 of accord_chain, TC_ACT_OK when the slot is empty.
 */
#include "accord.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

SEC("classifier")
int tc_mini_dispatcher(struct __sk_buff *ctx)
{
	bpf_tail_call(ctx, &accord_chain, 0);
	return TC_ACT_OK;
}
