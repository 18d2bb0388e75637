//! Shared by the `apply_*` tests (included with `mod`, not a test of its own).
#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::path::PathBuf;

use composer::ir::Cidr4;
use runtime::adapter::real::RealAdapter;
use runtime::config::{lpm_key, ConfigImage, SetImage};
use runtime::desired::{DesiredChain, DesiredMember, ObjectImage, StructOpsImage, Target};
use runtime::dispatcher::Hook;
use runtime::layout::{hookpoint_key, Layout};
use runtime::state::FsStateStore;

/// A private bpffs root and state directory, removed on drop.
pub struct Roots {
    pub layout: Layout,
}

impl Roots {
    pub fn new(tag: &str) -> Roots {
        let name = verifier_tests::unique_name(tag);
        let layout = Layout {
            bpffs_root: PathBuf::from(verifier_tests::BPFFS).join(&name),
            state_dir: std::env::temp_dir().join(&name),
        };
        Roots { layout }
    }

    pub fn store(&self) -> FsStateStore {
        FsStateStore {
            layout: self.layout.clone(),
        }
    }

    pub fn adapter(&self) -> RealAdapter {
        RealAdapter::default()
    }
}

impl Drop for Roots {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.layout.bpffs_root);
        let _ = std::fs::remove_dir_all(&self.layout.state_dir);
    }
}

/// One feature member from the embedded objects, with one scalar param and
/// a prefix set.
pub fn member(feature: &str, scalar: Option<u64>, prefixes: &[(Ipv4Addr, u8)]) -> DesiredMember {
    let bytes = runtime::objects::feature_object(feature)
        .or_else(|| runtime::objects::testing_object(feature))
        .unwrap_or_else(|| panic!("no embedded object {feature}"));
    let mut keys: Vec<Vec<u8>> = prefixes
        .iter()
        .map(|(ip, len)| {
            lpm_key(&Cidr4 {
                addr: u32::from(*ip),
                len: *len,
            })
        })
        .collect();
    keys.sort();
    DesiredMember {
        feature: feature.into(),
        program: feature.into(),
        object: ObjectImage::new(
            &format!("{feature}.bpf.o"),
            "embedded".into(),
            bytes.to_vec(),
        ),
        config: ConfigImage {
            scalar: scalar.map(|v| v.to_ne_bytes().to_vec()),
            sets: vec![SetImage {
                param: "prefixes".into(),
                keys,
            }],
        },
        struct_ops: runtime::objects::struct_ops_object(feature).map(|bytes| StructOpsImage {
            name: feature.into(),
            bytes: bytes.into(),
        }),
    }
}

pub fn chain(cgroup: &std::path::Path, members: Vec<DesiredMember>) -> DesiredChain {
    let target = Target::of_cgroup(cgroup).expect("cgroup id");
    DesiredChain {
        key: hookpoint_key(Hook::SockOps, target.cgroup_id),
        hook: Hook::SockOps,
        target,
        composition: "test".into(),
        composition_path: PathBuf::from("test/composition.yaml"),
        members,
        debug_sample: 0,
        timing: false,
        audit: None,
        needs: Default::default(),
    }
}

/// What `accord doctor` finds under these roots.
pub fn diagnose(roots: &Roots) -> runtime::doctor::Report {
    let facts = runtime::doctor::gather(
        &roots.layout,
        &roots.adapter(),
        &runtime::adapter::inventory::RealInventory,
        &roots.store(),
    )
    .unwrap();
    runtime::doctor::diagnose(&facts)
}

/// Every prog, map and link id the kernel holds.
pub fn kernel_ids() -> (Vec<u32>, Vec<u32>, Vec<u32>) {
    use runtime::sys::{all_ids, ObjectKind};
    (
        all_ids(ObjectKind::Prog).unwrap(),
        all_ids(ObjectKind::Map).unwrap(),
        all_ids(ObjectKind::Link).unwrap(),
    )
}
