// SPDX-License-Identifier: GPL-2.0
/*
 * bpf_dctcp: DCTCP (RFC 8257) as a BPF congestion control, registered
 * with the kernel through struct_ops under the name "bpf_dctcp".
 *
 * Adapted from the kernel's tools/testing/selftests/bpf/progs/bpf_dctcp.c
 * (itself a BPF rendering of net/ipv4/tcp_dctcp.c): the same algorithm,
 * written against accord_tcp_ca.h's CO-RE types instead of vmlinux.h,
 * with Reno's window growth taken from the kernel (tcp_reno_cong_avoid
 * kfunc). The kernel has no built-in dctcp on accord's hosts.
 *
 * alpha estimates the fraction of CE-marked bytes per RTT
 * (alpha <- (1 - g) * alpha + g * F, g = 1/16, scaled to 1024); on
 * congestion the window shrinks by alpha / 2 instead of Reno's half.
 *
 * Registered by runtime/src/struct_ops.rs (libbpf); the section
 * ".struct_ops.link" makes the registration a BPF link, so it lives as
 * long as its pinned link and is undone by unpinning it.
 */
#include "accord_tcp_ca.h"

char LICENSE[] SEC("license") = "GPL";

#define DCTCP_MAX_ALPHA 1024U
#define DCTCP_SHIFT_G 4 /* g = 1/2^4 */

struct dctcp_state {
	__u32 old_delivered;
	__u32 old_delivered_ce;
	__u32 prior_rcv_nxt;
	__u32 alpha;
	__u32 next_seq;
	__u32 ce_state;
	__u32 loss_cwnd;
};

static __always_inline __u32 max_u32(__u32 a, __u32 b)
{
	return a > b ? a : b;
}

static __always_inline __u32 min_u32(__u32 a, __u32 b)
{
	return a < b ? a : b;
}

/* seq1 is before seq2, modulo wrap-around. */
static __always_inline int seq_before(__u32 seq1, __u32 seq2)
{
	return (__s32)(seq1 - seq2) < 0;
}

static __always_inline void dctcp_reset(const struct tcp_sock *tp, struct dctcp_state *ca)
{
	ca->next_seq = tp->snd_nxt;
	ca->old_delivered = tp->delivered;
	ca->old_delivered_ce = tp->delivered_ce;
}

SEC("struct_ops")
void BPF_PROG(accord_dctcp_init, struct sock *sk)
{
	const struct tcp_sock *tp = accord_tcp_sk(sk);
	struct dctcp_state *ca = accord_inet_csk_ca(sk);

	ca->prior_rcv_nxt = tp->rcv_nxt;
	ca->alpha = DCTCP_MAX_ALPHA;
	ca->loss_cwnd = 0;
	ca->ce_state = 0;
	dctcp_reset(tp, ca);
}

SEC("struct_ops")
__u32 BPF_PROG(accord_dctcp_ssthresh, struct sock *sk)
{
	struct dctcp_state *ca = accord_inet_csk_ca(sk);
	const struct tcp_sock *tp = accord_tcp_sk(sk);
	__u32 cwnd = tp->snd_cwnd;

	ca->loss_cwnd = cwnd;
	return max_u32(cwnd - ((cwnd * ca->alpha) >> 11U), 2U);
}

SEC("struct_ops")
void BPF_PROG(accord_dctcp_update_alpha, struct sock *sk, __u32 flags)
{
	const struct tcp_sock *tp = accord_tcp_sk(sk);
	struct dctcp_state *ca = accord_inet_csk_ca(sk);
	__u32 delivered_ce, alpha, step;

	/* Once per RTT: when snd_una passes the sequence of the last reset. */
	if (seq_before(tp->snd_una, ca->next_seq))
		return;
	delivered_ce = tp->delivered_ce - ca->old_delivered_ce;
	alpha = ca->alpha;
	step = alpha >> DCTCP_SHIFT_G;
	/* alpha -= max(alpha >> g, 1) unless alpha is already 0 */
	alpha -= step ? step : (alpha ? 1 : 0);
	if (delivered_ce) {
		__u32 delivered = tp->delivered - ca->old_delivered;

		delivered_ce <<= (10 - DCTCP_SHIFT_G);
		delivered_ce /= max_u32(1U, delivered);
		alpha = min_u32(alpha + delivered_ce, DCTCP_MAX_ALPHA);
	}
	ca->alpha = alpha;
	dctcp_reset(tp, ca);
}

static __always_inline void dctcp_react_to_loss(struct sock *sk)
{
	struct dctcp_state *ca = accord_inet_csk_ca(sk);
	struct tcp_sock *tp = accord_tcp_sk(sk);

	ca->loss_cwnd = tp->snd_cwnd;
	tp->snd_ssthresh = max_u32(tp->snd_cwnd >> 1U, 2U);
}

SEC("struct_ops")
void BPF_PROG(accord_dctcp_state, struct sock *sk, __u8 new_state)
{
	/* RTO losses are handled in cwnd_event (once per RTT). */
	if (new_state == ACCORD_TCP_CA_RECOVERY &&
	    new_state != BPF_CORE_READ_BITFIELD(accord_inet_csk(sk), icsk_ca_state))
		dctcp_react_to_loss(sk);
}

static __always_inline void dctcp_ece_ack_cwr(struct sock *sk, __u32 ce_state)
{
	struct tcp_sock *tp = accord_tcp_sk(sk);

	if (ce_state == 1)
		tp->ecn_flags |= ACCORD_TCP_ECN_DEMAND_CWR;
	else
		tp->ecn_flags &= ~ACCORD_TCP_ECN_DEMAND_CWR;
}

/* The receiver's CE state machine: 0 after a non-CE packet, 1 after CE. An
 * ACK goes out at once when the state flips, after any delayed ACK that
 * still reflects the previous state. */
static __always_inline void dctcp_ece_ack_update(struct sock *sk, enum tcp_ca_event evt,
						 struct dctcp_state *ca)
{
	__u32 new_ce_state = evt == CA_EVENT_ECN_IS_CE ? 1 : 0;
	struct inet_connection_sock *icsk = accord_inet_csk(sk);

	if (ca->ce_state != new_ce_state) {
		if (icsk->icsk_ack.pending & ACCORD_ICSK_ACK_TIMER) {
			dctcp_ece_ack_cwr(sk, ca->ce_state);
			bpf_tcp_send_ack(sk, ca->prior_rcv_nxt);
		}
		icsk->icsk_ack.pending |= ACCORD_ICSK_ACK_NOW;
	}
	ca->prior_rcv_nxt = accord_tcp_sk(sk)->rcv_nxt;
	ca->ce_state = new_ce_state;
	dctcp_ece_ack_cwr(sk, new_ce_state);
}

SEC("struct_ops")
void BPF_PROG(accord_dctcp_cwnd_event, struct sock *sk, enum tcp_ca_event ev)
{
	struct dctcp_state *ca = accord_inet_csk_ca(sk);

	switch (ev) {
	case CA_EVENT_ECN_IS_CE:
	case CA_EVENT_ECN_NO_CE:
		dctcp_ece_ack_update(sk, ev, ca);
		break;
	case CA_EVENT_LOSS:
		dctcp_react_to_loss(sk);
		break;
	default:
		break;
	}
}

SEC("struct_ops")
__u32 BPF_PROG(accord_dctcp_undo_cwnd, struct sock *sk)
{
	const struct dctcp_state *ca = accord_inet_csk_ca(sk);

	return max_u32(accord_tcp_sk(sk)->snd_cwnd, ca->loss_cwnd);
}

SEC("struct_ops")
void BPF_PROG(accord_dctcp_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
	tcp_reno_cong_avoid(sk, ack, acked);
}

SEC(".struct_ops.link")
struct tcp_congestion_ops accord_dctcp = {
	.init = (void *)accord_dctcp_init,
	.in_ack_event = (void *)accord_dctcp_update_alpha,
	.cwnd_event = (void *)accord_dctcp_cwnd_event,
	.ssthresh = (void *)accord_dctcp_ssthresh,
	.cong_avoid = (void *)accord_dctcp_cong_avoid,
	.undo_cwnd = (void *)accord_dctcp_undo_cwnd,
	.set_state = (void *)accord_dctcp_state,
	.flags = ACCORD_TCP_CONG_NEEDS_ECN,
	.name = "bpf_dctcp",
};
