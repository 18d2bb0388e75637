// SPDX-License-Identifier: (MIT OR Apache-2.0)
/*
 * stowaway: an object with two sock_ops programs, `stowaway` and
 * `stowaway_extra`, for the test that an object must hold only the
 * programs its spec names: a spec declaring `stowaway` alone is refused,
 * because loading the object would bring a program nobody declared.
 */
#include "accord.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

ACCORD_SOCK_OPS(stowaway)
{
}

ACCORD_SOCK_OPS(stowaway_extra)
{
	if (accord_op_established(conn))
		accord_setsockopt_u32(ctx, SOL_SOCKET, SO_MARK, 9);
}
