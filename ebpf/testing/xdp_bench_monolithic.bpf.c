// SPDX-License-Identifier: (MIT OR Apache-2.0)
/*
 * xdp_bench_monolithic: the same work as a chain of BENCH_UPDATES
 * xdp_bench_member programs (one per-CPU array update each) in one
 * program without tail calls: the floor a chain is compared with.
 * BENCH_UPDATES is a load-time constant (override_global), at most 32.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

volatile const __u32 BENCH_UPDATES = 16;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 32);
	__type(key, __u32);
	__type(value, __u64);
} bench_counts SEC(".maps");

SEC("xdp")
int xdp_bench_monolithic(struct xdp_md *ctx)
{
	__u32 n = BENCH_UPDATES;

	for (__u32 i = 0; i < 32; i++) {
		__u32 key = i;
		__u64 *count;

		if (i >= n)
			break;
		count = bpf_map_lookup_elem(&bench_counts, &key);
		if (count)
			*count += 1;
	}
	return XDP_PASS;
}
