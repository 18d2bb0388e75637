//! The observable effects of rto_min, delack_max and jumbo_mss,
//! measured and asserted the same way by their IPv4 and IPv6 end-to-end
//! tests: one connection whose peer is in the member's prefix, one outside.

use std::io::Write;
use std::time::Duration;

use crate::{tcp_info, tcp_maxseg, TcpConn};

/// Runs 40 ping-pongs on both connections, then asserts rto_min's effect:
/// `inside` (its peer in the prefix, configured to 5 ms) has an RTO under
/// 50 ms, `outside` stays at the kernel's 200 ms default. `label` names the
/// inside peer in the messages. Loopback RTTs are microseconds, so the RTO
/// sits at its minimum: the configured 5 ms (plus a few jiffies of variance
/// still decaying) inside, 200 ms outside.
pub fn assert_rto_min_inside_only(inside: &mut TcpConn, outside: &mut TcpConn, label: &str) {
    inside.ping_pong(40).unwrap();
    outside.ping_pong(40).unwrap();
    let (in_rto, out_rto) = (
        tcp_info(&inside.client).unwrap().tcpi_rto,
        tcp_info(&outside.client).unwrap().tcpi_rto,
    );
    eprintln!("rto_min: {label} rto={in_rto}us | outside rto={out_rto}us");
    assert!(
        in_rto < 50_000,
        "{label}: rto {in_rto}us should be near 5 ms"
    );
    assert!(
        out_rto >= 200_000,
        "outside: rto {out_rto}us should be at the 200 ms default"
    );
}

/// The peer's view of the receiver's delayed ACKs: `rounds` one-byte
/// messages, `gap` apart, to a receiver that neither answers nor reads
/// (reading would send the ACK at once), so past the first quick ACKs each
/// is ACKed by the delayed-ACK timer and the sender's smoothed RTT
/// approaches the ACK delay. Returns the sender's `tcpi_rtt` in
/// microseconds.
fn delayed_ack_rtt(mut conn: TcpConn, rounds: usize, gap: Duration) -> u32 {
    for _ in 0..rounds {
        conn.client.write_all(b"x").unwrap();
        std::thread::sleep(gap);
    }
    tcp_info(&conn.client).unwrap().tcpi_rtt
}

/// Measures `delayed_ack_rtt` on both connections at once (40 messages,
/// 50 ms apart), then asserts delack_max's effect: the kernel's delayed-ACK
/// timeout starts at 40 ms (TCP_ATO_MIN); with delack_max configured to
/// 5 ms (rounded up to jiffies) the `inside` receiver ACKs within ~5 ms.
/// `outside_label` names the outside peer in the messages.
pub fn assert_delack_max_inside_only(inside: TcpConn, outside: TcpConn, outside_label: &str) {
    let gap = Duration::from_millis(50);
    let t = std::thread::spawn(move || delayed_ack_rtt(outside, 40, gap));
    let rtt_in = delayed_ack_rtt(inside, 40, gap);
    let rtt_out = t.join().unwrap();
    eprintln!("delack_max: sender rtt in {rtt_in}us, {outside_label} {rtt_out}us");
    assert!(
        rtt_in < 20_000,
        "in prefix: ACKs delayed at most ~5 ms, rtt {rtt_in}us"
    );
    assert!(
        rtt_out > 30_000,
        "{outside_label}: the default ~40 ms delayed ACK, rtt {rtt_out}us"
    );
}

/// Asserts jumbo_mss's effect (configured to 1400): on `inside` the client's
/// MSS and the peer's sending MSS are 1400 minus the 12-byte timestamp
/// option (the SYN advertised it, so the peer sends with it too); on
/// `outside` both keep loopback's large MSS. `outside_label` names the
/// outside peer in the messages.
pub fn assert_jumbo_mss_inside_only(inside: &TcpConn, outside: &TcpConn, outside_label: &str) {
    let (in_client, in_server) = (
        tcp_maxseg(&inside.client).unwrap(),
        tcp_info(&inside.server).unwrap().tcpi_snd_mss,
    );
    let (out_client, out_server) = (
        tcp_maxseg(&outside.client).unwrap(),
        tcp_info(&outside.server).unwrap().tcpi_snd_mss,
    );
    eprintln!("jumbo_mss: in client={in_client} server snd_mss={in_server} | {outside_label} client={out_client} server snd_mss={out_server}");
    assert!(
        (1300..=1400).contains(&in_client),
        "in prefix, client MSS {in_client}"
    );
    assert!(
        (1300..=1400).contains(&in_server),
        "in prefix, the peer's sending MSS {in_server}"
    );
    assert!(
        out_client > 16_000 && out_server > 16_000,
        "{outside_label}: loopback's large MSS ({out_client}, {out_server})"
    );
}
