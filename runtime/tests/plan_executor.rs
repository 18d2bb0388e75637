//! Plans and the executor against the fake adapter: plan snapshots, the
//! no-op second apply, config changes as new generations, swaps, rollback on failure,
//! detach and gc.

use std::path::{Path, PathBuf};

use runtime::adapter::fake::FakeAdapter;
use runtime::adapter::BpfAdapter;
use runtime::config::{ConfigImage, SetImage};
use runtime::desired::{DesiredChain, DesiredMember, ObjectImage, StructOpsImage, Target};
use runtime::layout::Layout;
use runtime::lifecycle;
use runtime::plan::PlanKind;
use runtime::state::{MemStateStore, StateStore};

fn layout() -> Layout {
    Layout {
        bpffs_root: PathBuf::from("/bpf/accord"),
        state_dir: PathBuf::from("/run/accord"),
    }
}

fn member(name: &str, iw: Option<u64>) -> DesiredMember {
    DesiredMember {
        feature: name.into(),
        program: name.into(),
        object: ObjectImage::new(
            &format!("{name}.bpf.o"),
            "embedded".into(),
            format!("ELF of {name}").into_bytes(),
        ),
        config: ConfigImage {
            scalar: iw.map(|v| v.to_ne_bytes().to_vec()),
            sets: vec![SetImage {
                param: "prefixes".into(),
                keys: vec![vec![1; 20]],
            }],
        },
        struct_ops: None,
    }
}

fn chain(members: Vec<DesiredMember>) -> DesiredChain {
    let target = Target {
        cgroup: PathBuf::from("/sys/fs/cgroup/svc"),
        cgroup_id: 77,
    };
    DesiredChain {
        key: runtime::layout::hookpoint_key(dispatcher::Hook::SockOps, target.cgroup_id),
        hook: dispatcher::Hook::SockOps,
        target,
        composition: "storage".into(),
        composition_path: PathBuf::from("examples/storage/composition.yaml"),
        members,
        debug_sample: 0,
        timing: false,
        audit: None,
        needs: Default::default(),
    }
}

fn fake() -> FakeAdapter {
    let maps: &[(&str, usize)] = &[
        ("accord_config", 8),
        ("accord_set_prefixes", 1),
        ("accord_stats", 24),
    ];
    FakeAdapter::new()
        .with_object("init_cwnd.bpf.o", maps)
        .with_object("rwnd_init.bpf.o", maps)
        .with_object("jumbo_mss.bpf.o", maps)
}

fn four() -> DesiredChain {
    chain(vec![
        member("init_cwnd", Some(40)),
        member("rwnd_init", Some(64)),
        member("jumbo_mss", Some(1400)),
    ])
}

fn link_prog(a: &FakeAdapter, key: &str) -> Option<u32> {
    a.link_prog_id(&layout().link_pin(key)).unwrap()
}

fn member_ids(a: &FakeAdapter, store: &MemStateStore) -> Vec<u32> {
    lifecycle::status(&layout(), a, store).unwrap()[0]
        .members
        .iter()
        .map(|m| m.stats.as_ref().unwrap().id)
        .collect()
}

#[test]
fn fresh_plan() {
    let a = fake();
    let store = MemStateStore::default();
    let plan = lifecycle::plan_for(&layout(), &a, &store, &four()).unwrap();
    insta::assert_snapshot!(plan.to_string());
}

#[test]
fn detach_and_repair_plans() {
    let (mut a, mut store) = (fake(), MemStateStore::default());
    let desired = four();
    lifecycle::apply(&layout(), &mut a, &mut store, &desired).unwrap();
    insta::assert_snapshot!(
        "detach",
        runtime::plan::plan_detach(&layout(), &desired.key).to_string()
    );
    a.unpin(&layout().link_pin(&desired.key)).unwrap();
    let plan = lifecycle::plan_for(&layout(), &a, &store, &desired).unwrap();
    assert_eq!(plan.kind, PlanKind::Repair { generation: 2 });
    let text = plan.to_string();
    assert!(
        text.contains("attach sock_ops to /sys/fs/cgroup/svc"),
        "{text}"
    );
    assert!(
        text.contains("unpin and remove /bpf/accord/sock_ops-cg77/gen-1 (after commit)"),
        "{text}"
    );
}

#[test]
fn a_link_the_record_does_not_explain_is_updated_in_place_never_unpinned() {
    let (mut a, mut store) = (fake(), MemStateStore::default());
    let desired = four();
    lifecycle::apply(&layout(), &mut a, &mut store, &desired).unwrap();
    let link_pin = layout().link_pin(&desired.key);
    // The record is lost (or was never written): the link runs generation 1.
    store.remove(&desired.key).unwrap();
    let plan = lifecycle::plan_for(&layout(), &a, &store, &desired).unwrap();
    assert_eq!(plan.kind, PlanKind::Repair { generation: 2 });
    let text = plan.to_string();
    assert!(
        text.contains("swap /bpf/accord/sock_ops-cg77/link from /bpf/accord/sock_ops-cg77/gen-1/dispatcher to /bpf/accord/sock_ops-cg77/gen-2/dispatcher (one BPF_LINK_UPDATE)"),
        "{text}"
    );
    assert!(
        !text.contains(&format!("unpin {}", link_pin.display())),
        "{text}"
    );
    lifecycle::apply(&layout(), &mut a, &mut store, &desired).unwrap();
    let record = store.load(&desired.key).unwrap().unwrap();
    assert_eq!(
        (record.generation, record.previous_generation),
        (2, Some(1)),
        "generation 1 keeps serving the connections it stamped"
    );
    let st = lifecycle::status(&layout(), &a, &store).unwrap();
    assert!(st[0].drift.is_empty(), "{:?}", st[0].drift);

    // A link running a program no generation of accord's holds: updated
    // by program id, still in place.
    a.remove_tree(&layout().generation_dir(&desired.key, 1))
        .unwrap();
    store.remove(&desired.key).unwrap();
    a.remove_tree(&layout().generation_dir(&desired.key, 2).join("chain"))
        .unwrap();
    let running = link_prog(&a, &desired.key).unwrap();
    let plan = lifecycle::plan_for(&layout(), &a, &store, &desired).unwrap();
    assert_eq!(plan.kind, PlanKind::Repair { generation: 3 });
    assert!(
        plan.to_string().contains(&format!(
            "from program {running} to /bpf/accord/sock_ops-cg77/gen-3/dispatcher"
        )),
        "{plan}"
    );
    lifecycle::apply(&layout(), &mut a, &mut store, &desired).unwrap();
    assert_ne!(link_prog(&a, &desired.key), Some(running));
    assert!(a.exists(&link_pin));
}

#[test]
fn apply_then_apply_again_is_a_no_op() {
    let (mut a, mut store) = (fake(), MemStateStore::default());
    let desired = four();
    let (plan, done) = lifecycle::apply(&layout(), &mut a, &mut store, &desired).unwrap();
    assert_eq!(plan.kind, PlanKind::Fresh { generation: 1 });
    assert!(done.warnings.is_empty());
    let disp = a
        .prog_stats(&layout().dispatcher_pin(&desired.key, 1))
        .unwrap()
        .id;
    assert_eq!(link_prog(&a, &desired.key), Some(disp));
    assert_eq!(store.load(&desired.key).unwrap().unwrap().generation, 1);
    let ids = member_ids(&a, &store);
    let calls = a.calls.len();

    let (plan, _) = lifecycle::apply(&layout(), &mut a, &mut store, &desired).unwrap();
    assert_eq!(plan.kind, PlanKind::NoChange { generation: 1 });
    assert!(plan.steps.is_empty());
    assert_eq!(a.calls.len(), calls, "a no-op apply makes no calls");
    assert_eq!(member_ids(&a, &store), ids);
}

#[test]
fn config_change_builds_a_new_generation() {
    let (mut a, mut store) = (fake(), MemStateStore::default());
    lifecycle::apply(&layout(), &mut a, &mut store, &four()).unwrap();
    let ids = member_ids(&a, &store);
    let mut changed = four();
    changed.members[0].config.scalar = Some(20u64.to_ne_bytes().to_vec());
    changed.members[2].config.sets[0].keys = vec![vec![2; 20], vec![3; 20]];
    let plan = lifecycle::plan_for(&layout(), &a, &store, &changed).unwrap();
    assert_eq!(plan.kind, PlanKind::ConfigChange { from: 1, to: 2 });
    insta::assert_snapshot!(plan.to_string());
    lifecycle::apply(&layout(), &mut a, &mut store, &changed).unwrap();
    let after = member_ids(&a, &store);
    assert!(ids.iter().all(|id| !after.contains(id)), "reloaded");
    let cfg = layout()
        .member_dir(&changed.key, 2, 0, "init_cwnd", "init_cwnd")
        .join("accord_config");
    assert_eq!(
        a.map_entry(&cfg, &0u32.to_ne_bytes()),
        Some(20u64.to_ne_bytes().to_vec())
    );
    // Generation 1 keeps its old config for the connections it stamped.
    let old = layout()
        .member_dir(&changed.key, 1, 0, "init_cwnd", "init_cwnd")
        .join("accord_config");
    assert_eq!(
        a.map_entry(&old, &0u32.to_ne_bytes()),
        Some(40u64.to_ne_bytes().to_vec())
    );
    let record = store.load(&changed.key).unwrap().unwrap();
    assert_eq!(
        (record.generation, record.previous_generation),
        (2, Some(1))
    );
}

#[test]
fn member_change_swaps_generations() {
    let (mut a, mut store) = (fake(), MemStateStore::default());
    let first = four();
    lifecycle::apply(&layout(), &mut a, &mut store, &first).unwrap();
    let second = chain(vec![
        member("rwnd_init", Some(64)),
        member("init_cwnd", Some(40)),
    ]);
    let plan = lifecycle::plan_for(&layout(), &a, &store, &second).unwrap();
    insta::assert_snapshot!(plan.to_string());
    let (_, done) = lifecycle::apply(&layout(), &mut a, &mut store, &second).unwrap();
    assert!(done.warnings.is_empty());
    let disp2 = a
        .prog_stats(&layout().dispatcher_pin(&second.key, 2))
        .unwrap()
        .id;
    assert_eq!(link_prog(&a, &second.key), Some(disp2));
    // The replaced generation stays for the connections it stamped.
    assert!(a.exists(&layout().generation_dir(&second.key, 1)));
    let record = store.load(&second.key).unwrap().unwrap();
    assert_eq!(
        (record.generation, record.previous_generation),
        (2, Some(1))
    );
    assert_eq!(
        lifecycle::gc(&layout(), &mut a, &store, true).unwrap(),
        Vec::<std::path::PathBuf>::new()
    );

    // The next swap keeps 2 and removes 1.
    lifecycle::apply(&layout(), &mut a, &mut store, &first).unwrap();
    assert!(
        !a.exists(&layout().generation_dir(&second.key, 1)),
        "the generation before the previous one is unpinned"
    );
    assert!(a.exists(&layout().generation_dir(&second.key, 2)));
    let record = store.load(&second.key).unwrap().unwrap();
    assert_eq!(
        (record.generation, record.previous_generation),
        (3, Some(2))
    );
}

#[test]
fn struct_ops_are_registered_once_and_collected_when_unused() {
    let (mut a, mut store) = (
        fake().with_object("bpf_dctcp.bpf.o", &[]),
        MemStateStore::default(),
    );
    let mut dctcp = member("bpf_dctcp", None);
    dctcp.config.sets.clear();
    dctcp.struct_ops = Some(StructOpsImage {
        name: "bpf_dctcp".into(),
        bytes: b"ELF".to_vec().into(),
    });
    let desired = chain(vec![dctcp, member("init_cwnd", Some(40))]);
    let plan = lifecycle::plan_for(&layout(), &a, &store, &desired).unwrap();
    insta::assert_snapshot!(plan.to_string());
    lifecycle::apply(&layout(), &mut a, &mut store, &desired).unwrap();
    let reg = layout().struct_ops_dir("bpf_dctcp");
    assert!(a.exists(&reg.join("bpf_dctcp")));
    // Already registered: the next build does not register again.
    let again = chain(vec![desired.members[1].clone(), desired.members[0].clone()]);
    let plan = lifecycle::plan_for(&layout(), &a, &store, &again).unwrap();
    assert!(!plan.to_string().contains("register struct_ops"), "{plan}");
    assert!(
        lifecycle::gc(&layout(), &mut a, &store, true)
            .unwrap()
            .is_empty(),
        "in use"
    );
    lifecycle::detach(&layout(), &mut a, &mut store, &desired.key).unwrap();
    assert_eq!(
        lifecycle::gc(&layout(), &mut a, &store, false).unwrap(),
        vec![reg.clone()]
    );
    assert!(!a.exists(&reg));
}

fn snapshot(a: &FakeAdapter) -> Vec<PathBuf> {
    a.pins.keys().cloned().collect()
}

#[test]
fn a_failing_member_leaves_the_live_generation_untouched() {
    let (mut a, mut store) = (fake(), MemStateStore::default());
    let first = four();
    lifecycle::apply(&layout(), &mut a, &mut store, &first).unwrap();
    let before_pins = snapshot(&a);
    let before_link = link_prog(&a, &first.key);
    let before_record = store.load(&first.key).unwrap();

    let second = chain(vec![
        member("jumbo_mss", Some(9000)),
        member("rwnd_init", Some(64)),
    ]);
    a.fail_when = Some("load_member rwnd_init".into());
    let err = lifecycle::apply(&layout(), &mut a, &mut store, &second).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("rwnd_init"), "{text}");
    assert!(text.contains("rolled back"), "{text}");
    assert_eq!(
        snapshot(&a),
        before_pins,
        "nothing new pinned, nothing old removed"
    );
    assert_eq!(link_prog(&a, &first.key), before_link);
    assert_eq!(store.load(&first.key).unwrap(), before_record);
}

#[test]
fn a_failing_swap_rolls_back_and_a_failing_fresh_apply_leaves_nothing() {
    let (mut a, mut store) = (fake(), MemStateStore::default());
    a.fail_when = Some("create_link".into());
    let desired = four();
    assert!(lifecycle::apply(&layout(), &mut a, &mut store, &desired).is_err());
    assert!(
        a.pinned_objects().is_empty(),
        "left behind: {:?}",
        a.pins.keys()
    );
    assert!(
        !a.exists(&layout().hookpoint_dir(&desired.key)),
        "no hookpoint dir left"
    );
    assert!(store.records.is_empty());

    lifecycle::apply(&layout(), &mut a, &mut store, &desired).unwrap();
    let before = snapshot(&a);
    let second = chain(vec![member("init_cwnd", Some(40))]);
    a.fail_when = Some("update_link".into());
    assert!(lifecycle::apply(&layout(), &mut a, &mut store, &second).is_err());
    assert_eq!(snapshot(&a), before);
    assert_eq!(store.load(&desired.key).unwrap().unwrap().generation, 1);
}

#[test]
fn a_failing_state_write_undoes_the_swap() {
    struct FailingStore(MemStateStore, bool);
    impl StateStore for FailingStore {
        fn load(
            &self,
            key: &str,
        ) -> Result<Option<runtime::state::HookpointRecord>, runtime::state::StateError> {
            self.0.load(key)
        }
        fn save(
            &mut self,
            r: &runtime::state::HookpointRecord,
        ) -> Result<(), runtime::state::StateError> {
            if self.1 && r.generation == 2 {
                return Err(runtime::state::StateError::Io {
                    path: PathBuf::from("/run/accord/hookpoints/x.json"),
                    source: std::io::Error::from(std::io::ErrorKind::StorageFull),
                });
            }
            self.0.save(r)
        }
        fn remove(&mut self, key: &str) -> Result<(), runtime::state::StateError> {
            self.0.remove(key)
        }
        fn list(&self) -> Result<Vec<runtime::state::HookpointRecord>, runtime::state::StateError> {
            self.0.list()
        }
    }
    let mut a = fake();
    let mut store = FailingStore(MemStateStore::default(), true);
    let first = four();
    lifecycle::apply(&layout(), &mut a, &mut store, &first).unwrap();
    let live = link_prog(&a, &first.key);
    let second = chain(vec![member("init_cwnd", Some(40))]);
    let err = lifecycle::apply(&layout(), &mut a, &mut store, &second).unwrap_err();
    assert!(err.to_string().contains("rolled back"), "{err}");
    assert_eq!(
        link_prog(&a, &first.key),
        live,
        "the link points at generation 1 again"
    );
    assert!(!a.exists(&layout().generation_dir(&first.key, 2)));
}

#[test]
fn detach_then_gc_leaves_nothing() {
    let (mut a, mut store) = (fake(), MemStateStore::default());
    let desired = four();
    lifecycle::apply(&layout(), &mut a, &mut store, &desired).unwrap();
    // An orphan: a generation nobody records, and a hookpoint without a record.
    a.make_dir(&layout().generation_dir(&desired.key, 9))
        .unwrap();
    a.make_dir(&layout().hookpoint_dir("sock_ops-cg5")).unwrap();
    let found = lifecycle::gc(&layout(), &mut a, &store, true).unwrap();
    assert_eq!(
        found,
        vec![
            layout().hookpoint_dir("sock_ops-cg5"),
            layout().generation_dir(&desired.key, 9)
        ]
    );
    assert!(
        a.exists(&layout().hookpoint_dir("sock_ops-cg5")),
        "dry run removes nothing"
    );
    lifecycle::gc(&layout(), &mut a, &store, false).unwrap();
    assert!(
        a.exists(&layout().dispatcher_pin(&desired.key, 1)),
        "gc keeps what is recorded"
    );

    lifecycle::detach(&layout(), &mut a, &mut store, &desired.key).unwrap();
    assert!(
        a.pinned_objects().is_empty(),
        "left: {:?}",
        a.pinned_objects()
    );
    assert!(store.records.is_empty());
    assert!(lifecycle::gc(&layout(), &mut a, &store, false)
        .unwrap()
        .is_empty());
    assert!(a.list_dir(Path::new("/bpf/accord")).unwrap().is_empty());
}

#[test]
fn status_reports_members_in_order_with_counts_and_drift() {
    let (mut a, mut store) = (fake(), MemStateStore::default());
    let desired = four();
    lifecycle::apply(&layout(), &mut a, &mut store, &desired).unwrap();
    a.run(
        &layout()
            .member_dir(&desired.key, 1, 1, "rwnd_init", "rwnd_init")
            .join("prog"),
        5,
    );
    let st = lifecycle::status(&layout(), &a, &store).unwrap();
    assert_eq!(st.len(), 1);
    let names: Vec<&str> = st[0].members.iter().map(|m| m.member.as_str()).collect();
    assert_eq!(names, ["init_cwnd", "rwnd_init", "jumbo_mss"]);
    assert_eq!(st[0].members[1].stats.as_ref().unwrap().run_cnt, 5);
    assert!(st[0].drift.is_empty());
    a.unpin(&layout().link_pin(&desired.key)).unwrap();
    let st = lifecycle::status(&layout(), &a, &store).unwrap();
    assert_eq!(
        st[0].drift,
        vec!["no link pinned: the chain is not attached".to_owned()]
    );
    // Applying again repairs it.
    let (plan, _) = lifecycle::apply(&layout(), &mut a, &mut store, &desired).unwrap();
    assert_eq!(plan.kind, PlanKind::Repair { generation: 2 });
    assert!(lifecycle::status(&layout(), &a, &store).unwrap()[0]
        .drift
        .is_empty());
}
