//! What the running kernel offers, and what accord does without each
//! feature: refuse clearly, fall back in a documented way, or go on because
//! accord does not need it. Pure: the BPF adapter probes
//! ([`crate::adapter::probe`]), this module decides, so every decision is
//! unit-tested against made-up probe results (a 6.1 kernel, one without
//! iter/tcp, one that refuses a socket option).
//!
//! The decisions, in one place (README "Supported kernels" shows them per
//! kernel):
//!
//! | feature | since | without it |
//! |---|---|---|
//! | bpffs, cgroup BPF links, socket storage, ring buffers | 5.7, 5.2, 5.8 | apply refused: chains are pinned links, dispatchers stamp sockets, members declare a ring buffer |
//! | a `bpf_setsockopt` option a member writes | per option | apply refused, naming the option and its members |
//! | struct_ops | 5.6 | apply of a member that needs one (`bpf_dctcp`) refused |
//! | struct_ops links | 6.4 | fallback: registered through its map, the map pinned; unpinning unregisters it first |
//! | iter/tcp with `bpf_setsockopt` | 5.14 | fallback: the daemon does not retune established connections |
//! | BPF_ENABLE_STATS | 5.8 | fallback: status shows members' own counters; `status --sample` refused |
//! | cgroup BEFORE/AFTER (mprog) | 6.17 (Debian's 6.12 too) | not needed: the chain's order is accord's own |

use std::collections::BTreeMap;
use std::fmt;

use composer::ir::{HookCatalog, ValueType, WriteMethod};
use serde::Serialize;
use thiserror::Error;

/// One `bpf_setsockopt` option of a hook catalog, as the probe tries it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct SockoptOption {
    /// The catalog's field name (`TCP_BPF_IW`).
    pub name: String,
    pub level: i32,
    pub option: i32,
    /// A string option (`TCP_CONGESTION`); the probe passes [`PROBE_STRING`].
    pub string: bool,
}

/// Values the probe tries for an integer option, in order, until one is
/// accepted: the kernel answers EINVAL both for an option it does not know
/// and for a value out of the option's range (a minimum RTO of 1 µs, an MSS
/// of 1), so one accepted value among these shows the option is known.
pub const PROBE_VALUES: [u32; 4] = [1, 1000, 100_000, 10];
/// The value the probe passes for a string option: a congestion control
/// every kernel has built in.
pub const PROBE_STRING: &str = "reno";

impl SockoptOption {
    /// Every `bpf_setsockopt` option the catalog lists, in name order.
    pub fn of_catalog(catalog: &HookCatalog) -> Vec<SockoptOption> {
        catalog
            .writable
            .values()
            .filter_map(|f| match &f.method {
                WriteMethod::Setsockopt {
                    level_value,
                    option_value,
                    ..
                } => Some(SockoptOption {
                    name: f.name.clone(),
                    level: *level_value,
                    option: *option_value,
                    string: matches!(f.ty, ValueType::Str { .. }),
                }),
                _ => None,
            })
            .collect()
    }
}

/// The sock_ops hook catalog accord is built with; `status` and `doctor`
/// probe its options (an apply probes its own composition's catalog).
pub const BUILTIN_SOCK_OPS_CATALOG: &str = include_str!("../../specs/hooks/sock_ops.yaml");

/// The `bpf_setsockopt` options of [`BUILTIN_SOCK_OPS_CATALOG`]: its
/// `writable:` fields whose `method.kind` is `setsockopt` (the composer's
/// loader reads files only; a unit test checks both agree).
pub fn builtin_sockopt_options() -> Vec<SockoptOption> {
    #[derive(serde::Deserialize)]
    struct Catalog {
        writable: BTreeMap<String, Field>,
    }
    #[derive(serde::Deserialize)]
    struct Field {
        #[serde(rename = "type")]
        ty: String,
        method: Method,
    }
    #[derive(serde::Deserialize)]
    struct Method {
        kind: String,
        level_value: Option<i32>,
        option_value: Option<i32>,
    }
    let catalog: Catalog =
        serde_yaml::from_str(BUILTIN_SOCK_OPS_CATALOG).expect("the built-in catalog parses");
    catalog
        .writable
        .into_iter()
        .filter_map(|(name, f)| {
            match (
                f.method.kind.as_str(),
                f.method.level_value,
                f.method.option_value,
            ) {
                ("setsockopt", Some(level), Some(option)) => Some(SockoptOption {
                    name,
                    level,
                    option,
                    string: f.ty == "string",
                }),
                _ => None,
            }
        })
        .collect()
}

/// A probe's answer about one capability that can be unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Support {
    Yes,
    No,
    /// Not probed (the probe itself needs a feature the kernel lacks).
    Unknown,
}

/// What this kernel offers, probed rather than assumed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct KernelFeatures {
    /// `uname -r`.
    pub release: String,
    /// A bpffs is mounted at the root's parent.
    pub bpffs: bool,
    /// `BPF_ENABLE_STATS` works.
    pub run_time_stats: bool,
    /// Run-time stats are already on host-wide (`kernel.bpf_stats_enabled`).
    pub stats_enabled_by_sysctl: bool,
    /// Kernel BTF (`/sys/kernel/btf/vmlinux`): CO-RE and struct_ops need it.
    pub btf: bool,
    /// `BPF_LINK_CREATE` of a sock_ops program on a cgroup.
    pub cgroup_link: bool,
    /// The kernel's own BEFORE/AFTER ordering of cgroup programs (a cgroup
    /// link placed with `BPF_F_BEFORE` another runs before it): ordering
    /// only, no effect checks; accord's chain does not need it.
    pub cgroup_mprog_ordering: bool,
    /// `BPF_MAP_TYPE_SK_STORAGE` (connection stamps).
    pub socket_storage: bool,
    /// `BPF_MAP_TYPE_RINGBUF` (members' debug events).
    pub ringbuf: bool,
    /// An `iter/tcp` program that calls `bpf_setsockopt` loads.
    pub iter_tcp: bool,
    /// A `tcp_congestion_ops` struct_ops map can be created.
    pub struct_ops: bool,
    /// ... with `BPF_F_LINK` (registration as a BPF link).
    pub struct_ops_link: bool,
    /// Per catalog option name: does `bpf_setsockopt` accept it.
    pub setsockopt: BTreeMap<String, Support>,
}

impl KernelFeatures {
    /// A kernel with everything (what the fake adapter reports by default).
    pub fn everything(options: &[SockoptOption]) -> Self {
        KernelFeatures {
            release: "fake".into(),
            bpffs: true,
            run_time_stats: true,
            stats_enabled_by_sysctl: false,
            btf: true,
            cgroup_link: true,
            cgroup_mprog_ordering: true,
            socket_storage: true,
            ringbuf: true,
            iter_tcp: true,
            struct_ops: true,
            struct_ops_link: true,
            setsockopt: options
                .iter()
                .map(|o| (o.name.clone(), Support::Yes))
                .collect(),
        }
    }

    /// What this kernel lacks, each with what accord does instead.
    pub fn lacks(&self) -> Vec<Lack> {
        let mut out = Vec::new();
        let mut lack = |present: bool, feature: &str, since: &str, consequence: Consequence| {
            if !present {
                out.push(Lack {
                    feature: feature.to_owned(),
                    since: since.to_owned(),
                    consequence,
                });
            }
        };
        lack(
            self.bpffs,
            "bpffs",
            "mount",
            Consequence::Refused(
                "apply refused: chains are pinned in bpffs (mount -t bpf bpf /sys/fs/bpf)".into(),
            ),
        );
        lack(
            self.cgroup_link,
            "cgroup BPF links",
            "5.7",
            Consequence::Refused("apply refused: chains stay attached through pinned links".into()),
        );
        lack(
            self.socket_storage,
            "socket storage",
            "5.2",
            Consequence::Refused(
                "apply refused: dispatchers stamp each connection with its generation".into(),
            ),
        );
        lack(
            self.ringbuf,
            "ring buffers",
            "5.8",
            Consequence::Refused("apply refused: every member has a debug ring buffer".into()),
        );
        lack(
            self.btf,
            "kernel BTF",
            "CONFIG_DEBUG_INFO_BTF",
            Consequence::Fallback("struct_ops and iter/tcp cannot load: see those lines".into()),
        );
        lack(
            self.struct_ops,
            "struct_ops",
            "5.6",
            Consequence::Refused(
                "apply of a member that needs a struct_ops (bpf_dctcp) refused".into(),
            ),
        );
        lack(
            !self.struct_ops || self.struct_ops_link,
            "struct_ops links",
            "6.4",
            Consequence::Fallback(
                "struct_ops registered through its map, the map pinned; removing the pin unregisters it"
                    .into(),
            ),
        );
        lack(
            self.iter_tcp,
            "iter/tcp with bpf_setsockopt",
            "5.14",
            Consequence::Fallback(
                "the daemon does not retune connections established before an apply".into(),
            ),
        );
        lack(
            self.run_time_stats,
            "BPF_ENABLE_STATS",
            "5.8",
            Consequence::Fallback(
                "status shows the members' own counters; status --sample refused".into(),
            ),
        );
        lack(
            self.cgroup_mprog_ordering,
            "cgroup BEFORE/AFTER ordering",
            "6.17",
            Consequence::NotNeeded("accord orders its chain itself".into()),
        );
        for (name, support) in &self.setsockopt {
            match support {
                Support::Yes => {}
                Support::No => lack(
                    false,
                    &format!("bpf_setsockopt {name}"),
                    "per option",
                    Consequence::Refused(format!("apply of a member that writes {name} refused")),
                ),
                Support::Unknown => lack(
                    false,
                    &format!("bpf_setsockopt {name} (not probed)"),
                    "iter/tcp",
                    Consequence::Fallback(format!(
                        "{name} not checked before apply; a refusal shows as member errors"
                    )),
                ),
            }
        }
        out
    }

    /// The JSON `accord status` and `accord doctor` print: every probed
    /// feature, and what the kernel lacks with what accord does instead.
    pub fn to_json(&self) -> serde_json::Value {
        let lacks: Vec<serde_json::Value> = self
            .lacks()
            .iter()
            .map(|l| {
                let (kind, what) = match &l.consequence {
                    Consequence::Refused(w) => ("refused", w),
                    Consequence::Fallback(w) => ("fallback", w),
                    Consequence::NotNeeded(w) => ("not_needed", w),
                };
                serde_json::json!({
                    "feature": l.feature,
                    "since": l.since,
                    "consequence": kind,
                    "what": what,
                })
            })
            .collect();
        serde_json::json!({
            "features": self,
            "lacks": lacks,
        })
    }

    /// Decides whether a chain with these needs can run here. `Ok` holds
    /// the fallbacks it will run with (for the user to see); `Err` every
    /// reason it cannot, at once.
    pub fn admit(&self, needs: &Needs) -> Result<Vec<String>, KernelRefusal> {
        let mut reasons = Vec::new();
        let mut fallbacks = Vec::new();
        for (present, what) in [
            (self.bpffs, "bpffs is not mounted (mount -t bpf bpf /sys/fs/bpf)"),
            (
                self.cgroup_link,
                "no cgroup BPF links (BPF_LINK_CREATE on a cgroup, Linux 5.7)",
            ),
            (
                self.socket_storage,
                "no socket storage (BPF_MAP_TYPE_SK_STORAGE, Linux 5.2): the dispatcher's connection stamps need it",
            ),
            (
                self.ringbuf,
                "no ring buffers (BPF_MAP_TYPE_RINGBUF, Linux 5.8): every member declares accord_events",
            ),
        ] {
            if !present {
                reasons.push(what.to_owned());
            }
        }
        for (option, members) in &needs.setsockopt {
            match self.setsockopt.get(&option.name).copied() {
                Some(Support::Yes) => {}
                Some(Support::No) => reasons.push(format!(
                    "bpf_setsockopt refuses {} (level {}, option {}) on this kernel; written by {}",
                    option.name,
                    option.level,
                    option.option,
                    members.join(", ")
                )),
                Some(Support::Unknown) | None => fallbacks.push(format!(
                    "bpf_setsockopt {} was not probed on this kernel (no iter/tcp): if the kernel refuses it, {} count errors",
                    option.name,
                    members.join(", ")
                )),
            }
        }
        for member in &needs.struct_ops {
            if !self.struct_ops || !self.btf {
                reasons.push(format!(
                    "{member} needs a struct_ops registration, which this kernel cannot do (struct_ops with BTF, Linux 5.6)"
                ));
            } else if !self.struct_ops_link {
                fallbacks.push(format!(
                    "{member}: no struct_ops links on this kernel (Linux 6.4): registered through its map, which is pinned instead"
                ));
            }
        }
        if reasons.is_empty() {
            Ok(fallbacks)
        } else {
            Err(KernelRefusal {
                release: self.release.clone(),
                reasons,
            })
        }
    }
}

impl fmt::Display for KernelFeatures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let yes = |b: bool| if b { "yes" } else { "no" };
        write!(
            f,
            "{}: bpffs {}, BTF {}, run-time stats {}{}, cgroup links {}, socket storage {}, ring buffers {}, iter/tcp {}, struct_ops {}, struct_ops links {}, cgroup BEFORE/AFTER ordering {}",
            self.release,
            yes(self.bpffs),
            yes(self.btf),
            yes(self.run_time_stats),
            if self.stats_enabled_by_sysctl {
                " (on host-wide)"
            } else {
                ""
            },
            yes(self.cgroup_link),
            yes(self.socket_storage),
            yes(self.ringbuf),
            yes(self.iter_tcp),
            yes(self.struct_ops),
            yes(self.struct_ops_link),
            yes(self.cgroup_mprog_ordering)
        )?;
        let count = |s: Support| self.setsockopt.values().filter(|v| **v == s).count();
        if !self.setsockopt.is_empty() {
            write!(
                f,
                ", bpf_setsockopt options {}/{}",
                count(Support::Yes),
                self.setsockopt.len()
            )?;
        }
        Ok(())
    }
}

/// What accord does without a feature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "what", rename_all = "snake_case")]
pub enum Consequence {
    /// Something accord would do is refused, with a clear error.
    Refused(String),
    /// accord goes on another, documented way.
    Fallback(String),
    /// accord does not use the feature.
    NotNeeded(String),
}

impl fmt::Display for Consequence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Consequence::Refused(w) => write!(f, "refused: {w}"),
            Consequence::Fallback(w) => write!(f, "fallback: {w}"),
            Consequence::NotNeeded(w) => write!(f, "not needed: {w}"),
        }
    }
}

/// One feature this kernel lacks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lack {
    pub feature: String,
    /// The Linux version (or setting) that brings it.
    pub since: String,
    pub consequence: Consequence,
}

impl fmt::Display for Lack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (Linux {}): {}",
            self.feature, self.since, self.consequence
        )
    }
}

/// What one chain needs from the kernel beyond what every chain needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    /// Each `bpf_setsockopt` option the members write, with the members
    /// (`feature/program`) that write it.
    pub setsockopt: Vec<(SockoptOption, Vec<String>)>,
    /// Members that need a struct_ops registered (`bpf_dctcp`).
    pub struct_ops: Vec<String>,
}

impl Needs {
    /// The options written by the members of `comp`, from its catalog.
    pub fn of_composition(comp: &composer::ir::Composition) -> Needs {
        let options = SockoptOption::of_catalog(&comp.catalog);
        let mut setsockopt: Vec<(SockoptOption, Vec<String>)> = Vec::new();
        for (id, _, program) in comp.members() {
            for w in &program.writes {
                let Some(option) = options.iter().find(|o| o.name == w.field) else {
                    continue;
                };
                match setsockopt.iter_mut().find(|(o, _)| o == option) {
                    Some((_, members)) if members.contains(&id.to_string()) => {}
                    Some((_, members)) => members.push(id.to_string()),
                    None => setsockopt.push((option.clone(), vec![id.to_string()])),
                }
            }
        }
        setsockopt.sort();
        Needs {
            setsockopt,
            struct_ops: Vec::new(),
        }
    }

    /// The options to probe for this chain.
    pub fn options(&self) -> Vec<SockoptOption> {
        self.setsockopt.iter().map(|(o, _)| o.clone()).collect()
    }
}

/// Why a chain cannot run on this kernel: every reason at once.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("kernel {release} cannot run this chain (nothing was loaded):\n  - {}", reasons.join("\n  - "))]
pub struct KernelRefusal {
    pub release: String,
    pub reasons: Vec<String>,
}

#[cfg(test)]
#[path = "kernel_tests.rs"]
mod tests;
