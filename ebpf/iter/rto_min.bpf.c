// SPDX-License-Identifier: (MIT OR Apache-2.0)
/* rto_min for existing connections: TCP_BPF_RTO_MIN = rto_min_us for peers
 * in `prefixes`, as ebpf/features/rto_min.bpf.c does. */
#include "accord_iter.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

ACCORD_ITER_SCALAR_SETSOCKOPT(rto_min_us, ACCORD_SOL_TCP, ACCORD_TCP_BPF_RTO_MIN)
