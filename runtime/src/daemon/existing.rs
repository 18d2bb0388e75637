//! Existing connections: a chain member acts on connections opened after
//! the attach; this re-applies its effects to the TCP sockets that were
//! already established when a generation went live.
//!
//! One `iter/tcp` program per feature that has one (`ebpf/iter/<feature>.bpf.c`),
//! loaded with the live member's pinned maps reused by name, so it sees
//! exactly the config the chain runs with, and the target's cgroup id as a
//! load-time constant (it skips sockets charged to any other cgroup). Reading
//! the iterator runs it; each socket it acted on comes back as one record
//! (option, `bpf_setsockopt` return value).
//!
//! Loading goes through [`IterRunner`], the seam for this one kernel
//! operation; [`AyaIterRunner`] is the real one.

use std::io::Read;
use std::path::PathBuf;

use aya::programs::Iter;
use aya::{Btf, EbpfLoader};
use tracing::{info, warn};

use crate::adapter::AdapterError;
use crate::desired::DesiredChain;
use crate::layout::Layout;

/// One iterator run.
#[derive(Debug, Clone)]
pub struct IterRun<'a> {
    /// The feature (for messages).
    pub feature: &'a str,
    pub object: &'a [u8],
    /// Map name to the live member's pin it must reuse.
    pub maps: Vec<(String, PathBuf)>,
    pub cgroup_id: u64,
}

/// What an iterator did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IterOutcome {
    /// Sockets it set an option on.
    pub sockets: u32,
    /// (option, errno) of the refused ones.
    pub refused: Vec<(u32, i32)>,
}

/// Runs an `iter/tcp` program once.
pub trait IterRunner {
    fn run(&mut self, req: &IterRun<'_>) -> Result<IterOutcome, AdapterError>;
}

/// Finds the iterator object of a feature.
pub type IterObjects<'a> = &'a dyn Fn(&str) -> Option<Vec<u8>>;

/// The program name every iterator object uses.
pub const ITER_PROGRAM: &str = "accord_iter";

/// Iterator objects in a directory (`<feature>.bpf.o`), for builds and
/// tests that supply them as files.
pub fn objects_in(dir: &std::path::Path, feature: &str) -> Option<Vec<u8>> {
    std::fs::read(dir.join(format!("{feature}.bpf.o"))).ok()
}

/// Loads through aya, against the running kernel's BTF (parsed once: it
/// is megabytes).
#[derive(Debug, Default)]
pub struct AyaIterRunner {
    btf: Option<Btf>,
}

impl IterRunner for AyaIterRunner {
    fn run(&mut self, req: &IterRun<'_>) -> Result<IterOutcome, AdapterError> {
        let err = |message: String| AdapterError::Object {
            object: format!("iter/{}", req.feature),
            message,
        };
        if self.btf.is_none() {
            self.btf = Some(Btf::from_sys_fs().map_err(|e| err(format!("kernel BTF: {e}")))?);
        }
        let btf = self.btf.as_ref().expect("parsed above");
        let mut loader = EbpfLoader::new();
        loader.btf(Some(btf));
        loader.override_global("ACCORD_TARGET_CGROUP", &req.cgroup_id, true);
        for (name, pin) in &req.maps {
            loader.map_pin_path(name.as_str(), pin.as_path());
        }
        let mut ebpf = loader.load(req.object).map_err(|e| err(e.to_string()))?;
        let prog: &mut Iter = ebpf
            .program_mut(ITER_PROGRAM)
            .ok_or_else(|| err(format!("no program {ITER_PROGRAM}")))?
            .try_into()
            .map_err(|e: aya::programs::ProgramError| err(e.to_string()))?;
        prog.load("tcp", btf).map_err(|e| err(verifier_text(&e)))?;
        let id = prog.attach().map_err(|e| err(e.to_string()))?;
        let link = prog.take_link(id).map_err(|e| err(e.to_string()))?;
        let mut file = link.into_file().map_err(|e| err(e.to_string()))?;
        let mut out = Vec::new();
        file.read_to_end(&mut out)
            .map_err(|e| err(format!("reading the iterator: {e}")))?;
        let mut outcome = IterOutcome::default();
        for rec in out.chunks_exact(8) {
            let opt = u32::from_ne_bytes(rec[0..4].try_into().expect("4 bytes"));
            let ret = i32::from_ne_bytes(rec[4..8].try_into().expect("4 bytes"));
            outcome.sockets += 1;
            if ret != 0 {
                outcome.refused.push((opt, -ret));
            }
        }
        Ok(outcome)
    }
}

fn verifier_text(e: &aya::programs::ProgramError) -> String {
    match e {
        aya::programs::ProgramError::LoadError {
            io_error,
            verifier_log,
        } => {
            format!("the verifier refused it: {io_error}\n{verifier_log}")
        }
        other => other.to_string(),
    }
}

/// Runs the iterator of every member that has one against the live
/// generation's maps. Failures are logged, never fatal: the chain is live.
pub fn retune(
    layout: &Layout,
    desired: &DesiredChain,
    generation: u64,
    objects: IterObjects<'_>,
    runner: &mut dyn IterRunner,
) -> Vec<(String, Result<IterOutcome, AdapterError>)> {
    let mut results = Vec::new();
    for (slot, m) in desired.members.iter().enumerate() {
        let stem = m
            .object
            .name
            .strip_suffix(".bpf.o")
            .unwrap_or(&m.object.name);
        let Some(object) = objects(stem) else {
            continue;
        };
        let dir = layout.member_dir(
            &desired.key,
            generation,
            slot as u32,
            &m.feature,
            &m.program,
        );
        let maps = std::fs::read_dir(&dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
                    .filter(|(name, _)| name.starts_with("accord_"))
                    .collect()
            })
            .unwrap_or_default();
        let result = runner.run(&IterRun {
            feature: &m.feature,
            object: &object,
            maps,
            cgroup_id: desired.target.cgroup_id,
        });
        match &result {
            Ok(o) => info!(
                hookpoint = %desired.key,
                generation,
                member = %m.feature,
                sockets = o.sockets,
                refused = o.refused.len(),
                "existing connections: re-applied {} to {} established sockets{}",
                m.feature,
                o.sockets,
                if o.refused.is_empty() { String::new() } else { format!(" ({} refused it: {:?})", o.refused.len(), o.refused) }
            ),
            Err(e) => {
                warn!(hookpoint = %desired.key, generation, member = %m.feature, "existing connections not retuned: {e}")
            }
        }
        results.push((m.feature.clone(), result));
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigImage;
    use crate::desired::{DesiredMember, ObjectImage, Target};
    use crate::layout::hookpoint_key;
    use dispatcher::Hook;

    /// (feature, maps, cgroup id) of one run.
    type Run = (String, Vec<(String, PathBuf)>, u64);

    /// Records what it was asked to run.
    #[derive(Default)]
    struct Recorder {
        runs: Vec<Run>,
    }

    impl IterRunner for Recorder {
        fn run(&mut self, req: &IterRun<'_>) -> Result<IterOutcome, AdapterError> {
            let mut maps = req.maps.clone();
            maps.sort();
            self.runs
                .push((req.feature.to_owned(), maps, req.cgroup_id));
            Ok(IterOutcome {
                sockets: 1,
                refused: Vec::new(),
            })
        }
    }

    fn member(feature: &str) -> DesiredMember {
        DesiredMember {
            feature: feature.into(),
            program: feature.into(),
            object: ObjectImage::new(&format!("{feature}.bpf.o"), "embedded".into(), vec![1]),
            config: ConfigImage::default(),
            struct_ops: None,
        }
    }

    #[test]
    fn each_member_with_an_iterator_gets_its_live_maps_and_the_cgroup() {
        let root = std::env::temp_dir().join(format!("accord-retune-{}", std::process::id()));
        let layout = Layout {
            bpffs_root: root.join("bpffs"),
            state_dir: root.join("state"),
        };
        let key = hookpoint_key(Hook::SockOps, 77);
        let chain = DesiredChain {
            key: key.clone(),
            hook: Hook::SockOps,
            target: Target {
                cgroup: "/sys/fs/cgroup/x".into(),
                cgroup_id: 77,
            },
            composition: "c".into(),
            composition_path: "/c.yaml".into(),
            members: vec![member("rwnd_init"), member("init_cwnd")],
            debug_sample: 0,
            timing: false,
            audit: None,
            needs: Default::default(),
        };
        // Generation 3's pins of the member in slot 1, as the adapter leaves them.
        let dir = layout.member_dir(&key, 3, 1, "init_cwnd", "init_cwnd");
        std::fs::create_dir_all(&dir).unwrap();
        for f in [
            "prog",
            "accord_config",
            "accord_set_prefixes",
            "accord_stats",
        ] {
            std::fs::write(dir.join(f), b"").unwrap();
        }
        let only_init_cwnd = |f: &str| (f == "init_cwnd").then(|| vec![0u8]);
        let mut runner = Recorder::default();
        let results = retune(&layout, &chain, 3, &only_init_cwnd, &mut runner);
        assert_eq!(results.len(), 1, "rwnd_init has no iterator");
        assert_eq!(runner.runs.len(), 1);
        let (feature, maps, cgroup) = &runner.runs[0];
        assert_eq!((feature.as_str(), *cgroup), ("init_cwnd", 77));
        let names: Vec<&str> = maps.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["accord_config", "accord_set_prefixes", "accord_stats"]
        );
        assert!(maps.iter().all(|(n, p)| *p == dir.join(n)));
        std::fs::remove_dir_all(root).unwrap();
    }
}
