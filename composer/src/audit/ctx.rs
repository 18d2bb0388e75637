//! The layout of `struct bpf_sock_ops` (linux/bpf.h), to name context
//! offsets the hook catalog does not list. The catalog stays the authority
//! for what a spec may declare; this table only makes messages readable
//! ("stores to replylong[1]" rather than "stores to offset 8"). A test
//! compiles it against the installed kernel headers.

/// (name, offset, size) in declaration order.
pub const SOCK_OPS_FIELDS: &[(&str, u32, u32)] = &[
    ("op", 0, 4),
    ("reply", 4, 4),
    ("replylong[1]", 8, 4),
    ("replylong[2]", 12, 4),
    ("replylong[3]", 16, 4),
    ("family", 20, 4),
    ("remote_ip4", 24, 4),
    ("local_ip4", 28, 4),
    ("remote_ip6", 32, 16),
    ("local_ip6", 48, 16),
    ("remote_port", 64, 4),
    ("local_port", 68, 4),
    ("is_fullsock", 72, 4),
    ("snd_cwnd", 76, 4),
    ("srtt_us", 80, 4),
    ("bpf_sock_ops_cb_flags", 84, 4),
    ("state", 88, 4),
    ("rtt_min", 92, 4),
    ("snd_ssthresh", 96, 4),
    ("rcv_nxt", 100, 4),
    ("snd_nxt", 104, 4),
    ("snd_una", 108, 4),
    ("mss_cache", 112, 4),
    ("ecn_flags", 116, 4),
    ("rate_delivered", 120, 4),
    ("rate_interval_us", 124, 4),
    ("packets_out", 128, 4),
    ("retrans_out", 132, 4),
    ("total_retrans", 136, 4),
    ("segs_in", 140, 4),
    ("data_segs_in", 144, 4),
    ("segs_out", 148, 4),
    ("data_segs_out", 152, 4),
    ("lost_out", 156, 4),
    ("sacked_out", 160, 4),
    ("sk_txhash", 164, 4),
    ("bytes_received", 168, 8),
    ("bytes_acked", 176, 8),
    ("sk", 184, 8),
    ("skb_data", 192, 8),
    ("skb_data_end", 200, 8),
    ("skb_len", 208, 4),
    ("skb_tcp_flags", 212, 4),
    ("skb_hwtstamp", 216, 8),
];

/// The `struct bpf_sock_ops` member at byte `off`, for messages.
pub fn sock_ops_field(off: i64) -> Option<&'static str> {
    let off = u32::try_from(off).ok()?;
    SOCK_OPS_FIELDS
        .iter()
        .find(|(_, o, s)| *o <= off && off < o + s)
        .map(|(n, _, _)| *n)
}

#[cfg(test)]
mod tests {
    #[test]
    fn fields_tile_the_struct_without_gaps() {
        let mut next = 0;
        for (name, off, size) in super::SOCK_OPS_FIELDS {
            assert_eq!(*off, next, "{name} does not follow its predecessor");
            next = off + size;
        }
        assert_eq!(super::sock_ops_field(66), Some("remote_port"));
        assert_eq!(super::sock_ops_field(4096), None);
    }
}
