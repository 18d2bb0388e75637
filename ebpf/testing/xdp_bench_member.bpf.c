// SPDX-License-Identifier: (MIT OR Apache-2.0)
/*
 * xdp_bench_member: an XDP chain member for BPF_PROG_TEST_RUN benchmarks.
 * Its whole work is one per-CPU array update (key: its slot), then the
 * SDK continues the chain. Compare with xdp_bench_monolithic.
 */
#include "accord.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ACCORD_CHAIN_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} bench_counts SEC(".maps");

ACCORD_XDP(xdp_bench_member)
{
	__u32 key = ACCORD_SLOT;
	__u64 *count = bpf_map_lookup_elem(&bench_counts, &key);

	if (count)
		*count += 1;
	return XDP_PASS;
}
