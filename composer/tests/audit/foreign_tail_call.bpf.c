// SPDX-License-Identifier: (MIT OR Apache-2.0)
/* Audit test object: tail-calls into a program array of its own before
 * continuing the chain; whatever runs there is invisible to the spec. */
#include "accord.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} side_door SEC(".maps");

SEC("sockops")
int foreign_tail_call(struct bpf_sock_ops *ctx)
{
	bpf_tail_call(ctx, &side_door, 2); /* AUDIT-HERE */
	bpf_tail_call(ctx, &accord_chain, ACCORD_SLOT + 1);
	return 1;
}
