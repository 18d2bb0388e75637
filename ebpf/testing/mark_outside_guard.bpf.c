// SPDX-License-Identifier: (MIT OR Apache-2.0)
/*
 * mark_outside_guard: a member that does more than the spec the tests give
 * it, for the host-side audit. The spec declares SO_MARK = 7 and
 * SO_PRIORITY = 5 only at PASSIVE_ESTABLISHED_CB on one local port; this
 * program sets the mark at both established callbacks for every peer and
 * the priority at TCP_CONNECT_CB. `accord audit` reports both writes as
 * outside their guards; `accord apply`, `accord plan` and the daemon must
 * refuse to load it. Were it loaded, a client socket of the cgroup would
 * carry mark 7 and priority 5, effects no proof covered.
 */
#include "accord.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

ACCORD_SOCK_OPS(mark_outside_guard)
{
	if (accord_op_established(conn))
		accord_setsockopt_u32(ctx, SOL_SOCKET, SO_MARK, 7);
	if (conn->op == BPF_SOCK_OPS_TCP_CONNECT_CB)
		accord_setsockopt_u32(ctx, SOL_SOCKET, SO_PRIORITY, 5);
}
