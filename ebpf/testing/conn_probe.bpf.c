// SPDX-License-Identifier: (MIT OR Apache-2.0)
/*
 * conn_probe: a sock_ops chain member for tests only. For every op it
 * stores the SDK's parsed connection and the raw port fields in
 * `probe_last` (key: op), so a test can check the parser's byte orders
 * against what user space knows, and which ops reach a member.
 */
#include "accord.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

struct probe_record {
	__u32 seen;            /* times this op was seen */
	__u32 family;
	__u32 remote4;         /* host order */
	__u32 local4;          /* host order */
	__u32 remote_port;     /* parsed, host order */
	__u32 local_port;      /* parsed, host order */
	__u32 raw_remote_port; /* ctx->remote_port as the kernel gives it */
	__u32 raw_local_port;  /* ctx->local_port as the kernel gives it */
	__u32 is_v4;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 32);
	__type(key, __u32);
	__type(value, struct probe_record);
} probe_last SEC(".maps");

ACCORD_SOCK_OPS(conn_probe)
{
	__u32 op = conn->op;
	struct probe_record *r = bpf_map_lookup_elem(&probe_last, &op);

	if (!r)
		return;
	r->seen++;
	r->family = conn->family;
	r->remote4 = conn->remote4;
	r->local4 = conn->local4;
	r->remote_port = conn->remote_port;
	r->local_port = conn->local_port;
	r->raw_remote_port = ctx->remote_port;
	r->raw_local_port = ctx->local_port;
	r->is_v4 = conn->is_v4;
}
