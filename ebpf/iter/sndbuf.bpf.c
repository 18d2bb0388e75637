// SPDX-License-Identifier: (MIT OR Apache-2.0)
/* sndbuf for existing connections: SO_SNDBUF = bytes for peers in `prefixes`,
 * as ebpf/features/sndbuf.bpf.c does at the established callbacks. */
#include "accord_iter.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

ACCORD_ITER_SCALAR_SETSOCKOPT(bytes, ACCORD_SOL_SOCKET, ACCORD_SO_SNDBUF)
