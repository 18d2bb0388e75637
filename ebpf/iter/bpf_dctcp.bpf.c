// SPDX-License-Identifier: (MIT OR Apache-2.0)
/*
 * bpf_dctcp for existing connections: switch the target cgroup's
 * established sockets to peers in `prefixes` to the BPF DCTCP congestion
 * control, as ebpf/features/bpf_dctcp.bpf.c does for new ones. (ECN is
 * negotiated in the handshake; a switched connection runs DCTCP's window
 * logic without ECN marks, like any DCTCP flow to a non-ECN peer.)
 */
#include "accord_iter.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

ACCORD_ITER_CIDR4_SET(prefixes);

SEC("iter/tcp")
int accord_iter(struct bpf_iter__tcp *ctx)
{
	static const char cc[16] = "bpf_dctcp";
	struct tcp_sock *tp = accord_iter_target_sock(ctx);
	char buf[16];

	if (!tp)
		return 0;
	if (!accord_iter_prefix_match(&accord_set_prefixes, tp))
		return 0;
	__builtin_memcpy(buf, cc, sizeof(buf));
	accord_iter_report(ctx, ACCORD_TCP_CONGESTION,
			   bpf_setsockopt(tp, ACCORD_SOL_TCP, ACCORD_TCP_CONGESTION, buf, sizeof(buf)));
	return 0;
}
