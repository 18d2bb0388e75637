// SPDX-License-Identifier: (MIT OR Apache-2.0)
/* Audit test object: the socket option is read from a map at run time, so
 * the program may write any option whatever its spec declares. */
#include "accord.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} option_of_the_day SEC(".maps");

ACCORD_SOCK_OPS(runtime_option)
{
	__u32 zero = 0;
	int v = 40;
	__u32 *opt = bpf_map_lookup_elem(&option_of_the_day, &zero);

	if (!opt)
		return;
	bpf_setsockopt(ctx, SOL_TCP, *opt, &v, sizeof(v)); /* AUDIT-HERE */
}
