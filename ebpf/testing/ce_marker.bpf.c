// SPDX-License-Identifier: (MIT OR Apache-2.0)
/*
 * ce_marker: a tc egress program for the bpf_dctcp test, standing in for
 * a switch that marks ECN under congestion (this kernel has no RED or
 * fq_codel qdisc). It sets the CE codepoint on one in MARK_ONE_IN IPv4
 * packets that are ECN-capable (ECT(0) or ECT(1)), fixes the header
 * checksum, and counts marks in `ce_marks`. Not a chain member.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

volatile const __u32 MARK_ONE_IN = 4;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} ce_marks SEC(".maps");

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define IP_CSUM_OFF (ETH_HLEN + 10)
#define ECN_MASK 0x03
#define ECN_CE 0x03

SEC("classifier")
int ce_marker(struct __sk_buff *skb)
{
	__be16 proto, old_word, new_word;
	__u8 tos;
	__u32 zero = 0;
	__u64 *marks;

	if (bpf_skb_load_bytes(skb, 12, &proto, sizeof(proto)) < 0 || proto != bpf_htons(ETH_P_IP))
		return 0; /* TC_ACT_OK */
	if (bpf_skb_load_bytes(skb, ETH_HLEN, &old_word, sizeof(old_word)) < 0)
		return 0;
	tos = bpf_ntohs(old_word) & 0xff;
	if ((tos & ECN_MASK) == 0 || (tos & ECN_MASK) == ECN_CE)
		return 0;
	if (MARK_ONE_IN > 1 && bpf_get_prandom_u32() % MARK_ONE_IN != 0)
		return 0;
	new_word = bpf_htons(bpf_ntohs(old_word) | ECN_CE);
	if (bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_word, new_word, sizeof(new_word)) < 0)
		return 0;
	if (bpf_skb_store_bytes(skb, ETH_HLEN, &new_word, sizeof(new_word), 0) < 0)
		return 0;
	marks = bpf_map_lookup_elem(&ce_marks, &zero);
	if (marks)
		__sync_fetch_and_add(marks, 1);
	return 0;
}
