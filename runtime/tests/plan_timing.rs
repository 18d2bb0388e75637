//! `accord apply --timing` against the fake adapter: timing is a load
//! constant (`ACCORD_TIMING`), so turning it on or off is a swap to a new
//! generation that reloads every member, recorded in the hookpoint record;
//! the same timing again is a no-op.

use std::path::PathBuf;

use runtime::adapter::fake::FakeAdapter;
use runtime::config::ConfigImage;
use runtime::desired::{DesiredChain, DesiredMember, ObjectImage, Target};
use runtime::layout::Layout;
use runtime::lifecycle;
use runtime::plan::PlanKind;
use runtime::state::{HookpointRecord, MemStateStore, StateStore};

fn layout() -> Layout {
    Layout {
        bpffs_root: PathBuf::from("/bpf/accord"),
        state_dir: PathBuf::from("/run/accord"),
    }
}

fn chain(timing: bool) -> DesiredChain {
    let target = Target {
        cgroup: PathBuf::from("/sys/fs/cgroup/svc"),
        cgroup_id: 77,
    };
    let member = |name: &str| DesiredMember {
        feature: name.into(),
        program: name.into(),
        object: ObjectImage::new(
            &format!("{name}.bpf.o"),
            "embedded".into(),
            format!("ELF of {name}").into_bytes(),
        ),
        config: ConfigImage {
            scalar: Some(10u64.to_ne_bytes().to_vec()),
            sets: vec![],
        },
        struct_ops: None,
    };
    DesiredChain {
        key: runtime::layout::hookpoint_key(dispatcher::Hook::SockOps, target.cgroup_id),
        hook: dispatcher::Hook::SockOps,
        target,
        composition: "timed".into(),
        composition_path: PathBuf::from("timed.yaml"),
        members: vec![member("init_cwnd"), member("rwnd_init")],
        debug_sample: 0,
        timing,
        audit: None,
        needs: Default::default(),
    }
}

fn fake() -> FakeAdapter {
    let maps: &[(&str, usize)] = &[("accord_config", 8), ("accord_stats", 32)];
    FakeAdapter::new()
        .with_object("init_cwnd.bpf.o", maps)
        .with_object("rwnd_init.bpf.o", maps)
}

fn record(store: &MemStateStore, key: &str) -> HookpointRecord {
    store.load(key).unwrap().unwrap()
}

#[test]
fn timing_is_a_load_constant_of_every_member_and_off_by_default() {
    let off = chain(false).dispatcher().unwrap();
    let on = chain(true).dispatcher().unwrap();
    for m in &off.members {
        assert!(
            m.globals.iter().all(|(n, _)| *n != "ACCORD_TIMING"),
            "{:?}",
            m.globals
        );
    }
    for m in &on.members {
        assert!(m.globals.contains(&("ACCORD_TIMING", 1)), "{:?}", m.globals);
    }
    assert_ne!(chain(false).chain_digest(), chain(true).chain_digest());
    assert_eq!(chain(false).config_digest(), chain(true).config_digest());
}

#[test]
fn turning_timing_on_or_off_reloads_and_is_recorded() {
    let (mut a, mut store) = (fake(), MemStateStore::default());
    let key = chain(false).key;
    let (plan, _) = lifecycle::apply(&layout(), &mut a, &mut store, &chain(false)).unwrap();
    assert_eq!(plan.kind, PlanKind::Fresh { generation: 1 });
    assert!(!record(&store, &key).timing);

    let plan = lifecycle::plan_for(&layout(), &a, &store, &chain(true)).unwrap();
    assert_eq!(plan.kind, PlanKind::Swap { from: 1, to: 2 });
    assert!(
        plan.to_string().contains("ACCORD_TIMING=1"),
        "the plan loads members with timing on:\n{plan}"
    );
    lifecycle::apply(&layout(), &mut a, &mut store, &chain(true)).unwrap();
    assert!(record(&store, &key).timing);
    assert_eq!(record(&store, &key).generation, 2);

    let (plan, _) = lifecycle::apply(&layout(), &mut a, &mut store, &chain(true)).unwrap();
    assert_eq!(plan.kind, PlanKind::NoChange { generation: 2 });

    let (plan, _) = lifecycle::apply(&layout(), &mut a, &mut store, &chain(false)).unwrap();
    assert_eq!(plan.kind, PlanKind::Swap { from: 2, to: 3 });
    assert!(!record(&store, &key).timing);
}

#[test]
fn records_without_timing_read_as_off_and_do_not_write_it() {
    let rec = chain(false).record(1);
    let json = serde_json::to_string(&rec).unwrap();
    assert!(!json.contains("timing"), "{json}");
    let back: HookpointRecord = serde_json::from_str(&json).unwrap();
    assert!(!back.timing);
    let json = serde_json::to_string(&chain(true).record(1)).unwrap();
    let back: HookpointRecord = serde_json::from_str(&json).unwrap();
    assert!(back.timing);
}
