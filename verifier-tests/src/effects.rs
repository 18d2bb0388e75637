//! The rto_min feature's observable effect, shared by its IPv4 and IPv6
//! end-to-end tests.

use crate::{tcp_info, TcpConn};

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
