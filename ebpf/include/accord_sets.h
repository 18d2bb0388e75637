/* SPDX-License-Identifier: (MIT OR Apache-2.0) */
/*
 * accord_sets.h: the prefix-set map of the chain ABI (ARCHITECTURE.md),
 * shared by chain members (accord.h) and the daemon's iterators
 * (ebpf/iter/accord_iter.h), which reuse a member's pinned set by name and
 * so must declare the very same map.
 */
#ifndef ACCORD_SETS_H
#define ACCORD_SETS_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* The key of every prefix-set map (cidr4_set, cidr6_set, cidr_set): 16
 * address bytes in network order, IPv4 stored IPv4-mapped (::ffff:a.b.c.d,
 * prefixlen = 96 + len), so one trie holds both families. */
struct accord_lpm_key {
	__u32 prefixlen;
	__u8 addr[16];
};

/* Declares the LPM trie `accord_set_<param>` of a prefix-set param. */
#define ACCORD_PREFIX_SET_MAP(param)                                         \
	struct {                                                             \
		__uint(type, BPF_MAP_TYPE_LPM_TRIE);                         \
		__uint(map_flags, BPF_F_NO_PREALLOC);                        \
		__uint(max_entries, 1024);                                   \
		__type(key, struct accord_lpm_key);                          \
		__type(value, __u8);                                         \
	} accord_set_##param SEC(".maps")

#endif /* ACCORD_SETS_H */
