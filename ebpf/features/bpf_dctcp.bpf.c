// SPDX-License-Identifier: (MIT OR Apache-2.0)
/*
 * bpf_dctcp: select the BPF DCTCP congestion control (TCP_CONGESTION
 * "bpf_dctcp") for intra-region peers in configured prefixes.
 *
 * The congestion control itself is ebpf/struct_ops/bpf_dctcp.bpf.c, which
 * the runtime registers with the kernel through struct_ops
 * (runtime/src/struct_ops.rs) before this member joins a chain; until it
 * is registered the setsockopt fails with ENOENT and is counted as an
 * error, and the connection keeps the default congestion control.
 *
 * Active side: at TCP_CONNECT_CB, before the SYN is built, so the SYN
 * asks for ECN (DCTCP needs ECN; the kernel negotiates it from the
 * congestion control's TCP_CONG_NEEDS_ECN flag). Passive side: at
 * PASSIVE_ESTABLISHED_CB, the first callback with a full child socket.
 *
 * ECN on the passive side: a DCTCP sender marks its SYN ECT, and a server
 * whose listener does not itself run an ECN congestion control refuses ECN
 * for such a SYN. The kernel asks sock_ops at BPF_SOCK_OPS_NEEDS_ECN
 * (for the request socket, before the SYN-ACK); replying 1 there for
 * in-prefix peers lets the handshake negotiate ECN, as the kernel's
 * samples/bpf/tcp_cong_kern.c does.
 */
#include "accord.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

ACCORD_CIDR_SET(prefixes);

ACCORD_SOCK_OPS(bpf_dctcp)
{
	static const char cc[] = "bpf_dctcp";

	if (conn->op != BPF_SOCK_OPS_TCP_CONNECT_CB &&
	    conn->op != BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB &&
	    conn->op != BPF_SOCK_OPS_NEEDS_ECN)
		return;
	if (!accord_prefix_match(&accord_set_prefixes, conn))
		return;
	if (conn->op == BPF_SOCK_OPS_NEEDS_ECN)
		accord_reply(ctx, 1);
	else
		accord_setsockopt_str(ctx, SOL_TCP, TCP_CONGESTION, cc);
}
