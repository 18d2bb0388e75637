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

ACCORD_ITER_SCALAR_SETSOCKOPT(iw, ACCORD_SOL_TCP, ACCORD_TCP_BPF_IW)
