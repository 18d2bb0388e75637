//! `lifecycle::apply` asks the kernel probe first: a chain the kernel
//! cannot run is refused before anything is loaded (the fake adapter sees
//! no call that changes anything), a fallback is reported in the result's
//! notes, and a plan with nothing to do probes nothing. The kernels are
//! made up: Debian 12's 6.1 (no struct_ops links), one that refuses a
//! socket option, one without cgroup links.

use std::path::PathBuf;

use runtime::adapter::fake::FakeAdapter;
use runtime::config::ConfigImage;
use runtime::desired::{DesiredChain, DesiredMember, ObjectImage, Target};
use runtime::kernel::{KernelFeatures, Needs, SockoptOption, Support};
use runtime::layout::Layout;
use runtime::lifecycle::{self, LifecycleError};
use runtime::state::{MemStateStore, StateStore};

fn layout() -> Layout {
    Layout {
        bpffs_root: PathBuf::from("/bpf/accord"),
        state_dir: PathBuf::from("/run/accord"),
    }
}

fn iw() -> SockoptOption {
    SockoptOption {
        name: "TCP_BPF_IW".into(),
        level: 6,
        option: 1001,
        string: false,
    }
}

/// init_cwnd writing TCP_BPF_IW, and a member needing bpf_dctcp registered.
fn chain() -> DesiredChain {
    let member = DesiredMember {
        feature: "init_cwnd".into(),
        program: "init_cwnd".into(),
        object: ObjectImage::new("init_cwnd.bpf.o", "embedded".into(), b"ELF".to_vec()),
        config: ConfigImage {
            scalar: Some(40u64.to_ne_bytes().to_vec()),
            sets: vec![],
        },
        struct_ops: None,
    };
    let target = Target {
        cgroup: PathBuf::from("/sys/fs/cgroup/svc"),
        cgroup_id: 77,
    };
    DesiredChain {
        key: runtime::layout::hookpoint_key(runtime::dispatcher::Hook::SockOps, 77),
        hook: runtime::dispatcher::Hook::SockOps,
        target,
        composition: "c".into(),
        composition_path: PathBuf::from("c.yaml"),
        members: vec![member],
        debug_sample: 0,
        timing: false,
        audit: None,
        needs: Needs {
            setsockopt: vec![(iw(), vec!["init_cwnd/init_cwnd".into()])],
            struct_ops: vec!["bpf_dctcp/bpf_dctcp".into()],
        },
    }
}

fn kernel(edit: impl FnOnce(&mut KernelFeatures)) -> FakeAdapter {
    let mut k = KernelFeatures::everything(&[iw()]);
    k.release = "6.1.0-50-amd64".into();
    edit(&mut k);
    let mut a = FakeAdapter::new().with_object("init_cwnd.bpf.o", &[("accord_config", 8)]);
    a.kernel = Some(k);
    a
}

/// Calls that would change the kernel or bpffs.
fn changes(a: &FakeAdapter) -> Vec<&String> {
    a.calls
        .iter()
        .filter(|c| !c.starts_with("list_dir") && !c.starts_with("exists"))
        .collect()
}

#[test]
fn a_refused_option_refuses_the_apply_before_anything_loads() {
    let mut a = kernel(|k| {
        k.setsockopt.insert("TCP_BPF_IW".into(), Support::No);
    });
    let mut store = MemStateStore::default();
    let err = lifecycle::apply(&layout(), &mut a, &mut store, &chain()).unwrap_err();
    assert!(matches!(err, LifecycleError::Kernel(_)), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("kernel 6.1.0-50-amd64 cannot run this chain"),
        "{text}"
    );
    assert!(
        text.contains("TCP_BPF_IW") && text.contains("init_cwnd/init_cwnd"),
        "{text}"
    );
    assert!(changes(&a).is_empty(), "{:?}", a.calls);
    assert!(store.list().unwrap().is_empty(), "no record written");
}

#[test]
fn without_cgroup_links_nothing_is_loaded_either() {
    let mut a = kernel(|k| k.cgroup_link = false);
    let mut store = MemStateStore::default();
    let err = lifecycle::apply(&layout(), &mut a, &mut store, &chain()).unwrap_err();
    assert!(err.to_string().contains("no cgroup BPF links"), "{err}");
    assert!(changes(&a).is_empty(), "{:?}", a.calls);
}

#[test]
fn debian_6_1_applies_with_the_struct_ops_fallback_in_the_notes() {
    let mut a = kernel(|k| {
        k.struct_ops_link = false;
        k.cgroup_mprog_ordering = false;
    });
    let mut store = MemStateStore::default();
    let (plan, done) = lifecycle::apply(&layout(), &mut a, &mut store, &chain()).unwrap();
    assert!(!plan.steps.is_empty());
    assert_eq!(done.notes.len(), 1, "{:?}", done.notes);
    assert!(
        done.notes[0].contains("bpf_dctcp/bpf_dctcp") && done.notes[0].contains("through its map"),
        "{:?}",
        done.notes
    );
    // A second apply has nothing to do: no probe, no notes.
    let (plan, done) = lifecycle::apply(&layout(), &mut a, &mut store, &chain()).unwrap();
    assert!(plan.steps.is_empty());
    assert!(done.notes.is_empty());
}

#[test]
fn admit_reports_the_probe_and_the_fallbacks() {
    let a = kernel(|k| {
        k.iter_tcp = false;
        k.setsockopt.insert("TCP_BPF_IW".into(), Support::Unknown);
    });
    let admitted = lifecycle::admit(&a, &chain()).unwrap();
    assert!(!admitted.features.iter_tcp);
    assert!(
        admitted
            .fallbacks
            .iter()
            .any(|f| f.contains("TCP_BPF_IW was not probed")),
        "{:?}",
        admitted.fallbacks
    );
}
