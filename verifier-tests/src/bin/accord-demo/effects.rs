//! The effects the demo measures: for each socket field a feature can
//! write, the callback where it is written, how its effect shows from user
//! space on one end of a connection, and whether a measurement agrees with
//! the composer's prediction (a value, or "no write: the kernel's default").

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;

use anyhow::{Context, Result};
use composer::ir::{Composition, Literal, MemberId};
use composer::predict::{self, PredictedValue};
use verifier_tests::{so_sndbuf, tcp_congestion, tcp_info, tcp_maxseg};

const TCPI_OPT_TIMESTAMPS: u8 = 1;
const TCPI_OPT_ECN: u8 = 8;
/// The kernel's initial congestion window (TCP_INIT_CWND).
const KERNEL_IW: u32 = 10;
/// The kernel's minimum RTO (TCP_RTO_MIN, 200 ms).
const KERNEL_RTO_MIN_US: u32 = 200_000;

/// Which end of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The connecting socket: TCP_CONNECT_CB, ACTIVE_ESTABLISHED_CB.
    Client,
    /// The accepted socket: PASSIVE_ESTABLISHED_CB.
    Server,
}

/// What the kernel shows for one end of a connection.
#[derive(Debug, Clone)]
pub struct Measured {
    pub cwnd: u32,
    pub maxseg: u32,
    /// The initial receive space (bytes) and the MSS it is counted in.
    pub rcv_space: u32,
    pub advmss: u32,
    pub timestamps: bool,
    pub ecn: bool,
    pub sndbuf: u32,
    pub congestion: String,
    /// After a few dozen round trips, so the estimator has settled.
    pub rto_us: u32,
}

impl Measured {
    /// The MSS the SYN advertised: the current one plus the timestamp
    /// option the kernel takes off it once timestamps are negotiated.
    pub fn syn_mss(&self) -> u32 {
        self.advmss + if self.timestamps { 12 } else { 0 }
    }
}

/// Reads everything but the RTO right after the handshake (before any data
/// can move the congestion window).
pub fn measure_now(sock: &impl AsRawFd) -> Result<Measured> {
    let info = tcp_info(sock).context("TCP_INFO")?;
    Ok(Measured {
        cwnd: info.tcpi_snd_cwnd,
        rcv_space: info.tcpi_rcv_space,
        advmss: info.tcpi_advmss,
        maxseg: tcp_maxseg(sock).context("TCP_MAXSEG")?,
        timestamps: info.tcpi_options & TCPI_OPT_TIMESTAMPS != 0,
        ecn: info.tcpi_options & TCPI_OPT_ECN != 0,
        sndbuf: so_sndbuf(sock).context("SO_SNDBUF")?,
        congestion: tcp_congestion(sock).context("TCP_CONGESTION")?,
        rto_us: info.tcpi_rto,
    })
}

/// The host's defaults that decide what a socket without any write shows.
#[derive(Debug, Clone)]
pub struct Host {
    pub default_congestion: String,
    /// `net.ipv4.tcp_ecn` = 1: clients ask for ECN on their own.
    pub ecn_requested_by_default: bool,
    /// `net.core.wmem_max`: the kernel caps SO_SNDBUF at it.
    pub wmem_max: u32,
    /// The initial receive space (bytes) and SYN MSS of a loopback
    /// connection without accord: the kernel's own initial window.
    pub own_window: (u32, u32),
}

impl Host {
    /// Reads the sysctls; `reference` is the client end of a connection
    /// no chain ran for.
    pub fn read(reference: &Measured) -> Result<Host> {
        let read = |p: &str| -> Result<String> {
            Ok(std::fs::read_to_string(p)
                .with_context(|| format!("reading {p}"))?
                .trim()
                .to_string())
        };
        Ok(Host {
            default_congestion: read("/proc/sys/net/ipv4/tcp_congestion_control")?,
            ecn_requested_by_default: read("/proc/sys/net/ipv4/tcp_ecn")? == "1",
            wmem_max: read("/proc/sys/net/core/wmem_max")?.parse()?,
            own_window: (reference.rcv_space, reference.syn_mss()),
        })
    }
}

/// One effect, as a row of the table.
#[derive(Debug, Clone, Copy)]
pub struct Effect {
    /// What a person would call it.
    pub label: &'static str,
    /// The catalog's writable field.
    pub field: &'static str,
    /// The callback (op) at which the field is written on this end.
    pub op: &'static str,
    pub end: End,
}

/// The rows of one connection's table: every effect on the client end,
/// then those that the passive callbacks write on the server end.
pub const EFFECTS: &[Effect] = &[
    Effect {
        label: "congestion control",
        field: "TCP_CONGESTION",
        op: "TCP_CONNECT_CB",
        end: End::Client,
    },
    Effect {
        label: "MSS",
        field: "TCP_MAXSEG",
        op: "TCP_CONNECT_CB",
        end: End::Client,
    },
    Effect {
        label: "ECN",
        field: "reply",
        op: "NEEDS_ECN",
        end: End::Client,
    },
    Effect {
        label: "initial receive window",
        field: "reply",
        op: "RWND_INIT",
        end: End::Client,
    },
    Effect {
        label: "initial cwnd",
        field: "TCP_BPF_IW",
        op: "ACTIVE_ESTABLISHED_CB",
        end: End::Client,
    },
    Effect {
        label: "minimum RTO",
        field: "TCP_BPF_RTO_MIN",
        op: "ACTIVE_ESTABLISHED_CB",
        end: End::Client,
    },
    Effect {
        label: "send buffer",
        field: "SO_SNDBUF",
        op: "ACTIVE_ESTABLISHED_CB",
        end: End::Client,
    },
    Effect {
        label: "congestion control",
        field: "TCP_CONGESTION",
        op: "PASSIVE_ESTABLISHED_CB",
        end: End::Server,
    },
    Effect {
        label: "initial cwnd",
        field: "TCP_BPF_IW",
        op: "PASSIVE_ESTABLISHED_CB",
        end: End::Server,
    },
    Effect {
        label: "minimum RTO",
        field: "TCP_BPF_RTO_MIN",
        op: "PASSIVE_ESTABLISHED_CB",
        end: End::Server,
    },
    Effect {
        label: "send buffer",
        field: "SO_SNDBUF",
        op: "PASSIVE_ESTABLISHED_CB",
        end: End::Server,
    },
];

/// What the composer predicts for one effect: a member's write, or none.
#[derive(Debug, Clone)]
pub enum Predicted {
    Write {
        value: PredictedValue,
        by: MemberId,
    },
    /// No member writes the field for this connection at this callback.
    Nothing,
}

/// One row: the prediction, the measurement as text, and whether they agree.
#[derive(Debug, Clone)]
pub struct Row {
    pub effect: Effect,
    pub predicted: String,
    pub measured: String,
    pub agrees: bool,
}

/// The context fields of one end's callbacks: the peer as that end sees it.
pub fn event(
    c: &Composition,
    op: &str,
    local: SocketAddr,
    remote: SocketAddr,
) -> Result<BTreeMap<String, Literal>> {
    let v4 = |a: SocketAddr| -> Result<(u32, u16)> {
        match a {
            SocketAddr::V4(a) => Ok((u32::from(*a.ip()), a.port())),
            SocketAddr::V6(_) => anyhow::bail!("the demo uses IPv4 sockets"),
        }
    };
    let (lip, lport) = v4(local)?;
    let (rip, rport) = v4(remote)?;
    Ok([
        ("op", Literal::Int(predict::enum_value(c, "op", op)?)),
        (
            "family",
            Literal::Int(predict::enum_value(c, "family", "AF_INET")?),
        ),
        ("local_ip4", Literal::Int(u64::from(lip))),
        ("local_port", Literal::Int(u64::from(lport))),
        ("remote_ip4", Literal::Int(u64::from(rip))),
        ("remote_port", Literal::Int(u64::from(rport))),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect())
}

fn int(v: &PredictedValue) -> Option<u64> {
    match v {
        PredictedValue::Exact(Literal::Int(i)) => Some(*i),
        _ => None,
    }
}

/// Every exact value the composition's members can write to `field`.
pub fn values_written(c: &Composition, field: &str) -> Vec<u64> {
    let mut out = Vec::new();
    for (_, feature, program) in c.members() {
        for w in program.writes.iter().filter(|w| w.field == field) {
            match &w.value {
                composer::ir::WriteValue::Lit(Literal::Int(v)) => out.push(*v),
                composer::ir::WriteValue::Param(p) => {
                    if let Some(composer::ir::ConfigValue::Scalar(Literal::Int(v))) =
                        feature.config.get(p)
                    {
                        out.push(*v);
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// Compares one effect's prediction with what the kernel shows.
pub fn judge(
    effect: Effect,
    predicted: &Predicted,
    m: &Measured,
    host: &Host,
    c: &Composition,
) -> Row {
    let ts = if m.timestamps { 12 } else { 0 };
    // `reply` means something else at each callback.
    let key = match effect.field {
        "reply" => format!("reply@{}", effect.op),
        f => f.to_string(),
    };
    let (predicted_text, measured, agrees) = match (key.as_str(), predicted) {
        ("TCP_BPF_IW", Predicted::Write { value, by }) => (
            format!("{value} segments ({by})"),
            format!("snd_cwnd {}", m.cwnd),
            int(value) == Some(u64::from(m.cwnd)),
        ),
        ("TCP_BPF_IW", Predicted::Nothing) => (
            format!("kernel default {KERNEL_IW}"),
            format!("snd_cwnd {}", m.cwnd),
            m.cwnd == KERNEL_IW,
        ),
        ("TCP_MAXSEG", Predicted::Write { value, by }) => (
            format!("{value} bytes ({by})"),
            format!("{} (+{ts} B timestamps)", m.maxseg),
            int(value) == Some(u64::from(m.maxseg + ts)),
        ),
        // Without a clamp the kernel picks loopback's large MSS (bounded by
        // half the peer's window): above every MSS the composition sets.
        ("TCP_MAXSEG", Predicted::Nothing) => {
            let clamps = values_written(c, "TCP_MAXSEG");
            let above = clamps.iter().max().copied().unwrap_or(0);
            (
                format!("no clamp (above {above})"),
                format!("{} (+{ts} B timestamps)", m.maxseg),
                clamps.iter().all(|v| u64::from(m.maxseg + ts) > *v),
            )
        }
        ("TCP_BPF_RTO_MIN", Predicted::Write { value, by }) => {
            let min = int(value).unwrap_or(u64::MAX);
            (
                format!(">= {} ms ({by})", ms(min)),
                format!("rto {} ms", ms(u64::from(m.rto_us))),
                u64::from(m.rto_us) >= min && m.rto_us < KERNEL_RTO_MIN_US,
            )
        }
        ("TCP_BPF_RTO_MIN", Predicted::Nothing) => (
            format!(">= {} ms kernel minimum", KERNEL_RTO_MIN_US / 1000),
            format!("rto {} ms", ms(u64::from(m.rto_us))),
            m.rto_us >= KERNEL_RTO_MIN_US,
        ),
        ("SO_SNDBUF", Predicted::Write { value, by }) => {
            // The kernel stores (and reports) twice the value set, capped
            // by net.core.wmem_max.
            let set = int(value).map(|v| v.min(u64::from(host.wmem_max)));
            (
                format!("{value} bytes ({by})"),
                format!("{} = 2 x {}", m.sndbuf, m.sndbuf / 2),
                set.map(|s| 2 * s) == Some(u64::from(m.sndbuf)),
            )
        }
        ("SO_SNDBUF", Predicted::Nothing) => (
            "kernel autotuning".to_string(),
            format!("{} (autotuned)", m.sndbuf),
            values_written(c, "SO_SNDBUF")
                .iter()
                .all(|v| 2 * v.min(&u64::from(host.wmem_max)) != u64::from(m.sndbuf)),
        ),
        ("TCP_CONGESTION", Predicted::Write { value, by }) => (
            format!("{value} ({by})"),
            m.congestion.clone(),
            matches!(value, PredictedValue::Exact(Literal::Str(s)) if *s == m.congestion),
        ),
        ("TCP_CONGESTION", Predicted::Nothing) => (
            format!("host default {}", host.default_congestion),
            m.congestion.clone(),
            m.congestion == host.default_congestion,
        ),
        // RWND_INIT: the kernel takes min(its own window, reply x MSS),
        // counted in the MSS of the SYN (before the timestamp option comes
        // off it); the initial receive space shows it after the handshake.
        ("reply@RWND_INIT", Predicted::Write { value, by }) => {
            let syn_mss = m.syn_mss();
            (
                format!("{value} x MSS ({by})"),
                format!(
                    "rcv_space {} = {} x {syn_mss}",
                    m.rcv_space,
                    m.rcv_space / syn_mss.max(1)
                ),
                int(value).map(|v| v * u64::from(syn_mss)) == Some(u64::from(m.rcv_space)),
            )
        }
        // The kernel's own window: what a connection without accord shows
        // for the same MSS; for another MSS, at least as many segments.
        ("reply@RWND_INIT", Predicted::Nothing) => {
            let (own, own_mss) = host.own_window;
            let agrees = if m.syn_mss() == own_mss {
                m.rcv_space == own
            } else {
                m.rcv_space / m.syn_mss().max(1) >= own / own_mss.max(1)
            };
            (
                format!("kernel's own {own}"),
                format!("rcv_space {}", m.rcv_space),
                agrees,
            )
        }
        // NEEDS_ECN: reply 1 asks for ECN; both ends of the demo's
        // connections are in the cgroup, so both ask and ECN is negotiated.
        ("reply@NEEDS_ECN", Predicted::Write { value, by }) => (
            format!("reply {value}: use ECN ({by})"),
            yes_no(m.ecn),
            int(value).map(|v| v == 1) == Some(m.ecn),
        ),
        ("reply@NEEDS_ECN", Predicted::Nothing) => {
            let default = host.ecn_requested_by_default;
            (
                format!("host default: {}", yes_no(default)),
                yes_no(m.ecn),
                m.ecn == default,
            )
        }
        (field, p) => (
            format!("{p:?}"),
            format!("(the demo cannot measure {field})"),
            false,
        ),
    };
    Row {
        effect,
        predicted: predicted_text,
        measured,
        agrees,
    }
}

fn yes_no(b: bool) -> String {
    if b { "negotiated" } else { "off" }.to_string()
}

fn ms(us: u64) -> String {
    if us.is_multiple_of(1000) {
        format!("{}", us / 1000)
    } else {
        format!("{:.1}", us as f64 / 1000.0)
    }
}

/// The address a socket of this end sees as its peer, and its own.
pub fn addrs(sock: &std::net::TcpStream) -> Result<(SocketAddr, SocketAddr)> {
    Ok((sock.local_addr()?, sock.peer_addr()?))
}

/// Which features' prefixes hold `ip`, for a connection's heading.
pub fn describe(ip: Ipv4Addr, c: &Composition) -> String {
    let ip_u = u32::from(ip);
    let mut inside = Vec::new();
    for f in &c.features {
        for v in f.config.values() {
            let holds = match v {
                composer::ir::ConfigValue::Cidr4Set(cs) => cs.iter().any(|c| c.contains(ip_u)),
                // A mixed cidr_set holds IPv4 prefixes IPv4-mapped.
                composer::ir::ConfigValue::CidrSet(cs) => cs
                    .iter()
                    .any(|c| c.contains(composer::ir::Cidr::V4_MAPPED | u128::from(ip_u))),
                _ => false,
            };
            if holds {
                inside.push(f.name.as_str());
            }
        }
    }
    match inside.len() {
        0 => "in no feature's prefixes: the control".to_string(),
        n if n == c.features.len() => "in every feature's prefixes".to_string(),
        _ => format!("in the prefixes of {}", inside.join(", ")),
    }
}
