// SPDX-License-Identifier: (MIT OR Apache-2.0)
/*
 * sockopt_at: sets one u32 socket option at one callback, all from its
 * config (op, level, option, value), so one object serves several chain
 * members of the semantics tests (verifier-tests/tests/semantics_e2e.rs):
 * two options of the catalog written by two members, one option written
 * at two callbacks of one connection.
 */
#include "accord.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

ACCORD_CONFIG(
	__u64 op;
	__u64 level;
	__u64 option;
	__u64 value;
);

ACCORD_SOCK_OPS(sockopt_at)
{
	const struct accord_config *cfg = accord_config_get();

	if (!cfg || conn->op != cfg->op)
		return;
	accord_setsockopt_u32(ctx, (int)cfg->level, (int)cfg->option, (__u32)cfg->value);
}
