//! The debug event stream (`accord events`): every member of a chain
//! applied with `--debug-sample N` writes one `struct accord_event` per
//! sampled run into its own `BPF_MAP_TYPE_RINGBUF` `accord_events`, pinned
//! in its member directory. This module reads them.
//!
//! Reading a ring buffer is a kernel interaction, so it sits behind its own
//! small seam, [`EventSource`] (real: [`RealEvents`], through aya's
//! `RingBuf`); decoding ([`AccordEvent::decode`]), naming ops and telling
//! whether a record's chain samples at all ([`debug_sample`]) are pure code.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aya::maps::{Map, MapData, RingBuf};
use dispatcher::Hook;
use thiserror::Error;

use super::{AdapterError, AdapterResult};
use crate::layout::Layout;
use crate::state::HookpointRecord;

/// The ring buffer's name in every member object (chain ABI).
pub const EVENTS_MAP: &str = "accord_events";
/// `sizeof(struct accord_event)` in accord.h.
pub const EVENT_SIZE: usize = 72;
/// The size of the older event (without `remote6`/`local6`), which this
/// reader still decodes (objects built against an older accord.h).
pub const EVENT_SIZE_V4: usize = 40;

/// One `struct accord_event` (ebpf/include/accord.h), decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AccordEvent {
    /// `bpf_ktime_get_ns()` (CLOCK_MONOTONIC).
    pub ts_ns: u64,
    pub slot: u32,
    /// The sock_ops op (0 for XDP and tc).
    pub op: u32,
    /// `AF_INET` / `AF_INET6` (0 for XDP and tc).
    pub family: u32,
    /// IPv4 (or v4-mapped) remote address, host order; 0 for an IPv6 peer.
    pub remote4: u32,
    pub local4: u32,
    pub remote_port: u16,
    pub local_port: u16,
    /// Writes this run made.
    pub writes: u32,
    /// The last error a write returned this run (0: none).
    pub last_err: i32,
    /// The remote address as 16 bytes in network order (IPv4 v4-mapped),
    /// as `struct accord_conn` has it; all zero when the run parsed none
    /// or the event is an older 40-byte one.
    pub remote6: [u8; 16],
    pub local6: [u8; 16],
}

#[derive(Debug, Error)]
pub enum EventsError {
    #[error(
        "an event of {len} bytes is not a struct accord_event \
         ({EVENT_SIZE} bytes, or {EVENT_SIZE_V4} from an older accord.h)"
    )]
    Size { len: usize },
    #[error(
        "debug events are off for {key}: the chain was applied with --debug-sample 0 \
         (re-apply with `accord apply --debug-sample N` to emit one event in N)"
    )]
    DebugOff { key: String },
    #[error("{key} has no member {name} (it has: {})", available.join(", "))]
    UnknownMember {
        key: String,
        name: String,
        available: Vec<String>,
    },
    #[error("member {member}: no ring buffer pinned at {}", pin.display())]
    NoRing { member: String, pin: PathBuf },
    #[error(transparent)]
    Adapter(#[from] AdapterError),
}

impl AccordEvent {
    /// Decodes one ring-buffer record (native byte order, accord.h layout),
    /// by its size: the current event, or the older one without 16-byte
    /// addresses.
    pub fn decode(bytes: &[u8]) -> Result<Self, EventsError> {
        let addrs = match bytes.len() {
            EVENT_SIZE_V4 => false,
            n if n >= EVENT_SIZE => true,
            len => return Err(EventsError::Size { len }),
        };
        let addr_at = |o: usize| -> [u8; 16] {
            if addrs {
                bytes[o..o + 16].try_into().expect("16 bytes")
            } else {
                [0; 16]
            }
        };
        let u32_at = |o: usize| u32::from_ne_bytes(bytes[o..o + 4].try_into().expect("4 bytes"));
        let u16_at = |o: usize| u16::from_ne_bytes(bytes[o..o + 2].try_into().expect("2 bytes"));
        Ok(AccordEvent {
            ts_ns: u64::from_ne_bytes(bytes[0..8].try_into().expect("8 bytes")),
            slot: u32_at(8),
            op: u32_at(12),
            family: u32_at(16),
            remote4: u32_at(20),
            local4: u32_at(24),
            remote_port: u16_at(28),
            local_port: u16_at(30),
            writes: u32_at(32),
            last_err: u32_at(36) as i32,
            remote6: addr_at(40),
            local6: addr_at(56),
        })
    }

    /// `ipv4`, `ipv6` or `-` (XDP, tc).
    pub fn family_name(&self) -> &'static str {
        match self.family {
            2 => "ipv4",
            10 => "ipv6",
            0 => "-",
            _ => "?",
        }
    }

    /// An address in its usual text form: dotted IPv4, `::ffff:a.b.c.d` for
    /// an IPv4 peer of an IPv6 socket, IPv6 text for an IPv6 peer; `None`
    /// when the event does not carry it (XDP, tc; an IPv6 peer in an older
    /// event, which holds only IPv4 addresses).
    pub fn addr_text(&self, addr6: [u8; 16], host_order: u32) -> Option<String> {
        if addr6 != [0; 16] {
            let a = Ipv6Addr::from(addr6);
            return Some(match (self.family, a.to_ipv4_mapped()) {
                (2, Some(v4)) => v4.to_string(),
                // Rust prints a v4-mapped address as ::ffff:a.b.c.d.
                _ => a.to_string(),
            });
        }
        if host_order == 0 {
            return None;
        }
        let v4 = Ipv4Addr::from(host_order);
        match self.family {
            10 => Some(format!("::ffff:{v4}")),
            _ => Some(v4.to_string()),
        }
    }

    pub fn remote_text(&self) -> Option<String> {
        self.addr_text(self.remote6, self.remote4)
    }

    pub fn local_text(&self) -> Option<String> {
        self.addr_text(self.local6, self.local4)
    }
}

/// The name of a sock_ops op (`BPF_SOCK_OPS_*` without the prefix).
pub fn op_name(hook: Hook, op: u32) -> String {
    const NAMES: [&str; 21] = [
        "VOID",
        "TIMEOUT_INIT",
        "RWND_INIT",
        "TCP_CONNECT_CB",
        "ACTIVE_ESTABLISHED_CB",
        "PASSIVE_ESTABLISHED_CB",
        "NEEDS_ECN",
        "BASE_RTT",
        "RTO_CB",
        "RETRANS_CB",
        "STATE_CB",
        "TCP_LISTEN_CB",
        "RTT_CB",
        "PARSE_HDR_OPT_CB",
        "HDR_OPT_LEN_CB",
        "WRITE_HDR_OPT_CB",
        "TSTAMP_SCHED_CB",
        "TSTAMP_SND_SW_CB",
        "TSTAMP_SND_HW_CB",
        "TSTAMP_ACK_CB",
        "TSTAMP_SENDMSG_CB",
    ];
    match hook {
        Hook::SockOps => NAMES
            .get(op as usize)
            .map(|s| (*s).to_owned())
            .unwrap_or_else(|| format!("op{op}")),
        _ => "-".to_owned(),
    }
}

/// How a recorded chain samples debug events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DebugSample {
    /// `--debug-sample 0`: no member emits anything.
    Off,
    /// One event in N.
    Every(u32),
    /// On, at a rate this reader cannot tell (a record written by another
    /// version of accord).
    On,
}

/// The largest rate [`debug_sample`] names exactly from an old record.
const MAX_NAMED_SAMPLE: u32 = 1 << 16;

/// How the chain of `record` samples debug events: the record's
/// `debug_sample` when it has one. Older records keep the rate only inside
/// `chain_digest` (the load constant `ACCORD_DEBUG_SAMPLE` is one of its
/// parts), so for them this recomputes the digest for candidate rates: the
/// same parts, in the same order, as `DesiredChain::chain_digest`.
pub fn debug_sample(record: &HookpointRecord) -> DebugSample {
    match record.debug_sample {
        Some(0) => return DebugSample::Off,
        Some(n) => return DebugSample::Every(n),
        None => {}
    }
    let digest_with = |n: u32| {
        let mut parts: Vec<Vec<u8>> = vec![record.hook.name().into(), n.to_le_bytes().to_vec()];
        if record.timing {
            parts.push(b"timing".to_vec());
        }
        for m in &record.members {
            parts.push(m.feature.as_bytes().to_vec());
            parts.push(m.program.as_bytes().to_vec());
            parts.push(m.object_digest.as_bytes().to_vec());
        }
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        crate::config::digest(&refs)
    };
    if digest_with(0) == record.chain_digest {
        return DebugSample::Off;
    }
    (1..=MAX_NAMED_SAMPLE)
        .find(|&n| digest_with(n) == record.chain_digest)
        .map_or(DebugSample::On, DebugSample::Every)
}

/// Reads raw records from ring buffers (the seam).
pub trait EventSource {
    /// Opens the ring buffer pinned at `pin`.
    fn open(&self, pin: &Path) -> AdapterResult<Box<dyn EventStream>>;
}

/// One open ring buffer.
pub trait EventStream {
    /// Takes every record available now (none: empty).
    fn drain(&mut self) -> AdapterResult<Vec<Vec<u8>>>;
}

/// The kernel's ring buffers, through aya (`MapData::from_pin`, `RingBuf`).
#[derive(Debug, Default, Clone, Copy)]
pub struct RealEvents;

struct RealStream(RingBuf<MapData>);

impl EventSource for RealEvents {
    fn open(&self, pin: &Path) -> AdapterResult<Box<dyn EventStream>> {
        let object_err = |message: String| AdapterError::Object {
            object: pin.display().to_string(),
            message,
        };
        let data = MapData::from_pin(pin).map_err(|e| object_err(format!("opening pin: {e}")))?;
        let ring = RingBuf::try_from(Map::RingBuf(data))
            .map_err(|e| object_err(format!("not a ring buffer: {e}")))?;
        Ok(Box::new(RealStream(ring)))
    }
}

impl EventStream for RealStream {
    fn drain(&mut self) -> AdapterResult<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        while let Some(item) = self.0.next() {
            out.push(item.to_vec());
        }
        Ok(out)
    }
}

/// Ring buffers in memory, for tests: records queued per pin path.
#[derive(Debug, Default, Clone)]
pub struct FakeEvents {
    pub rings: Vec<(PathBuf, Vec<Vec<u8>>)>,
}

struct FakeStream(VecDeque<Vec<u8>>);

impl EventSource for FakeEvents {
    fn open(&self, pin: &Path) -> AdapterResult<Box<dyn EventStream>> {
        let ring = self.rings.iter().find(|(p, _)| p == pin).ok_or_else(|| {
            AdapterError::io(pin, std::io::Error::from(std::io::ErrorKind::NotFound))
        })?;
        Ok(Box::new(FakeStream(ring.1.iter().cloned().collect())))
    }
}

impl EventStream for FakeStream {
    fn drain(&mut self) -> AdapterResult<Vec<Vec<u8>>> {
        Ok(self.0.drain(..).collect())
    }
}

/// One member's open ring buffer.
pub struct MemberRing {
    /// `feature`, or `feature/program` when they differ (as `accord status`).
    pub member: String,
    pub slot: u32,
    pub pin: PathBuf,
    stream: Box<dyn EventStream>,
}

/// One event, with the member that emitted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberEvent {
    pub member: String,
    pub event: AccordEvent,
}

/// Opens the ring buffer of every member of the record's live generation
/// (only `only`, matched by feature or `feature/program`, when given).
/// Refuses a chain applied without debug sampling.
pub fn open_rings(
    layout: &Layout,
    record: &HookpointRecord,
    source: &dyn EventSource,
    only: Option<&str>,
) -> Result<Vec<MemberRing>, EventsError> {
    if debug_sample(record) == DebugSample::Off {
        return Err(EventsError::DebugOff {
            key: record.key.clone(),
        });
    }
    let name_of = |feature: &str, program: &str| {
        if feature == program {
            feature.to_owned()
        } else {
            format!("{feature}/{program}")
        }
    };
    let chosen: Vec<_> = record
        .members
        .iter()
        .filter(|m| only.is_none_or(|n| n == m.feature || n == name_of(&m.feature, &m.program)))
        .collect();
    if let (Some(name), true) = (only, chosen.is_empty()) {
        return Err(EventsError::UnknownMember {
            key: record.key.clone(),
            name: name.to_owned(),
            available: record
                .members
                .iter()
                .map(|m| name_of(&m.feature, &m.program))
                .collect(),
        });
    }
    let mut rings = Vec::new();
    for m in chosen {
        let member = name_of(&m.feature, &m.program);
        let pin = layout
            .member_dir(
                &record.key,
                record.generation,
                m.slot,
                &m.feature,
                &m.program,
            )
            .join(EVENTS_MAP);
        if !pin.exists() {
            return Err(EventsError::NoRing { member, pin });
        }
        let stream = source.open(&pin)?;
        rings.push(MemberRing {
            member,
            slot: m.slot,
            pin,
            stream,
        });
    }
    Ok(rings)
}

/// When to stop polling.
#[derive(Debug, Clone, Copy, Default)]
pub struct Until {
    /// After this many events (all members together).
    pub count: Option<usize>,
    /// After this long.
    pub duration: Option<Duration>,
}

/// Polls every ring until `until` (forever when it sets nothing), handing
/// each decoded event to `sink` in the order read. Returns how many it read.
pub fn poll(
    rings: &mut [MemberRing],
    until: Until,
    sink: &mut dyn FnMut(&MemberEvent),
) -> Result<usize, EventsError> {
    let start = Instant::now();
    let mut seen = 0usize;
    loop {
        let mut batch = Vec::new();
        for ring in rings.iter_mut() {
            for raw in ring.stream.drain()? {
                batch.push(MemberEvent {
                    member: ring.member.clone(),
                    event: AccordEvent::decode(&raw)?,
                });
            }
        }
        // Rings are per member: order what one poll read by time.
        batch.sort_by_key(|e| e.event.ts_ns);
        for e in &batch {
            sink(e);
            seen += 1;
            if until.count.is_some_and(|c| seen >= c) {
                return Ok(seen);
            }
        }
        if until.duration.is_some_and(|d| start.elapsed() >= d) {
            return Ok(seen);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
