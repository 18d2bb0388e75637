// SPDX-License-Identifier: (MIT OR Apache-2.0)
/*
 * tc_drop_member: a tc chain member for tests of ACCORD_TC: it drops
 * packets shorter than DROP_BELOW bytes (a load-time constant) and lets
 * the rest continue down the chain, counting both in `tc_seen`.
 */
#include "accord.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

volatile const __u32 DROP_BELOW = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} tc_seen SEC(".maps");

ACCORD_TC(tc_drop_member)
{
	__u32 zero = 0;
	__u64 *seen = bpf_map_lookup_elem(&tc_seen, &zero);

	if (seen)
		*seen += 1;
	return ctx->len < DROP_BELOW ? TC_ACT_SHOT : TC_ACT_OK;
}
