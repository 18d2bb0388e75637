// SPDX-License-Identifier: (MIT OR Apache-2.0)
/*
 * init_cwnd for existing connections: what ebpf/features/init_cwnd.bpf.c
 * does at the established callbacks (TCP_BPF_IW for peers in `prefixes`),
 * applied by an iter/tcp program to the target cgroup's established
 * sockets. The kernel refuses TCP_BPF_IW once a connection has sent data
 * (-EINVAL, reported), so this tunes idle connections, as the member would
 * have had they been opened after the attach.
 */
#include "accord_iter.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

ACCORD_ITER_CONFIG(__u64 iw;)
ACCORD_ITER_CIDR4_SET(prefixes);

SEC("iter/tcp")
int accord_iter(struct bpf_iter__tcp *ctx)
{
	struct tcp_sock *tp = accord_iter_target_sock(ctx);
	const struct accord_config *cfg;
	__u32 zero = 0;
	int iw;

	if (!tp)
		return 0;
	cfg = bpf_map_lookup_elem(&accord_config, &zero);
	if (!cfg || cfg->iw == 0)
		return 0;
	if (!accord_iter_prefix_match(&accord_set_prefixes, tp))
		return 0;
	iw = (int)cfg->iw;
	accord_iter_report(ctx, ACCORD_TCP_BPF_IW,
			   bpf_setsockopt(tp, ACCORD_SOL_TCP, ACCORD_TCP_BPF_IW, &iw, sizeof(iw)));
	return 0;
}
