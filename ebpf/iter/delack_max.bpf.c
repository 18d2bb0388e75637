// SPDX-License-Identifier: (MIT OR Apache-2.0)
/* delack_max for existing connections: TCP_BPF_DELACK_MAX = delack_max_us
 * for peers in `prefixes`, as ebpf/features/delack_max.bpf.c does. */
#include "accord_iter.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

ACCORD_ITER_SCALAR_SETSOCKOPT(delack_max_us, ACCORD_SOL_TCP, ACCORD_TCP_BPF_DELACK_MAX)
