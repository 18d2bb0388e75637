//! Unit tests of the doctor: `diagnose` on hand-built facts, and `gather`
//! against the fake adapter and inventory after a real plan ran on them.

use std::path::{Path, PathBuf};

use dispatcher::Hook;

use super::*;
use crate::adapter::fake::FakeAdapter;
use crate::adapter::inventory::FakeInventory;
use crate::adapter::BpfAdapter;
use crate::config::ConfigImage;
use crate::state::{MemStateStore, RecordMember};

const KEY: &str = "sock_ops-cg42";
const CG: &str = "/sys/fs/cgroup/svc";

fn record(generation: u64) -> HookpointRecord {
    HookpointRecord {
        key: KEY.into(),
        hook: Hook::SockOps,
        cgroup: CG.into(),
        cgroup_id: 42,
        composition: "test".into(),
        composition_path: "c.yaml".into(),
        generation,
        chain_digest: "d".into(),
        config_digest: "c".into(),
        members: vec![RecordMember {
            slot: 0,
            feature: "init_cwnd".into(),
            program: "init_cwnd".into(),
            object: "init_cwnd.bpf.o".into(),
            object_digest: "o".into(),
            origin: "builtin:init_cwnd".into(),
            config: ConfigImage::default(),
        }],
        struct_ops: vec!["dctcp".into()],
        timing: false,
        debug_sample: None,
        previous_generation: None,
        audit: None,
    }
}

fn gen_dir(g: u64) -> (u64, PathBuf) {
    (g, PathBuf::from(format!("/b/{KEY}/gen-{g}")))
}

/// One healthy hookpoint: link → dispatcher 7, the cgroup lists only 7.
fn healthy() -> Facts {
    Facts {
        hookpoints: vec![HookpointFacts {
            record: record(2),
            link_prog_id: Some(7),
            dispatcher_id: Some(7),
            missing_members: vec![],
            cgroup_id_now: Some(42),
            attached: Ok(vec![AttachedProg {
                prog_id: 7,
                name: "accord_dispatch".into(),
            }]),
            inherited: vec![],
            descendants: vec![],
        }],
        pin_dirs: vec![PinDirFacts {
            key: KEY.into(),
            path: PathBuf::from("/b").join(KEY),
            generations: vec![gen_dir(2)],
            link_prog_id: Some(7),
        }],
        struct_ops: vec![("dctcp".into(), "/b/struct_ops/dctcp".into())],
    }
}

#[test]
fn a_healthy_hookpoint_has_no_findings() {
    let report = diagnose(&healthy());
    assert_eq!(report.findings, vec![]);
    assert_eq!(report.healthy, vec![KEY.to_owned()]);
}

#[test]
fn a_missing_link_pin_is_reported_with_what_to_do() {
    let mut facts = healthy();
    facts.hookpoints[0].link_prog_id = None;
    let report = diagnose(&facts);
    assert_eq!(
        report.findings,
        vec![Finding::LinkMissing {
            key: KEY.into(),
            cgroup: CG.into()
        }]
    );
    assert!(report.healthy.is_empty());
    assert!(report.findings[0].action().contains("accord apply"));
}

#[test]
fn a_link_running_another_program_is_reported() {
    let mut facts = healthy();
    facts.hookpoints[0].link_prog_id = Some(9);
    facts.hookpoints[0].attached = Ok(vec![AttachedProg {
        prog_id: 9,
        name: "x".into(),
    }]);
    let report = diagnose(&facts);
    assert_eq!(
        report.findings,
        vec![Finding::LinkRunsOther {
            key: KEY.into(),
            link_prog_id: 9,
            dispatcher_id: Some(7)
        }]
    );
}

#[test]
fn a_stale_generation_is_left_for_gc() {
    let mut facts = healthy();
    facts.pin_dirs[0].generations.insert(0, gen_dir(1));
    let report = diagnose(&facts);
    assert_eq!(
        report.findings,
        vec![Finding::StaleGeneration {
            key: KEY.into(),
            generation: 1,
            path: gen_dir(1).1
        }]
    );
    assert!(report.findings[0].action().contains("accord gc"));
}

#[test]
fn a_removed_or_replaced_cgroup_is_reported_and_not_queried() {
    for now in [None, Some(43)] {
        let mut facts = healthy();
        facts.hookpoints[0].cgroup_id_now = now;
        // Whatever runs on a new cgroup at that path is not this hookpoint's.
        facts.hookpoints[0].attached = Ok(vec![AttachedProg {
            prog_id: 99,
            name: "other".into(),
        }]);
        let report = diagnose(&facts);
        assert_eq!(
            report.findings,
            vec![Finding::CgroupGone {
                key: KEY.into(),
                cgroup: CG.into(),
                replaced_by: now
            }]
        );
        assert!(report.findings[0]
            .action()
            .contains("accord detach --cgroup"));
    }
}

#[test]
fn a_foreign_program_on_the_cgroup_is_named() {
    let mut facts = healthy();
    facts.hookpoints[0].attached = Ok(vec![
        AttachedProg {
            prog_id: 5,
            name: "legacy_tuner".into(),
        },
        AttachedProg {
            prog_id: 7,
            name: "accord_dispatch".into(),
        },
    ]);
    let report = diagnose(&facts);
    assert_eq!(
        report.findings,
        vec![Finding::ForeignProgram {
            key: KEY.into(),
            cgroup: CG.into(),
            prog_id: 5,
            name: "legacy_tuner".into()
        }]
    );
    let problem = report.findings[0].problem();
    assert!(problem.contains("legacy_tuner") && problem.contains("outside"));
}

#[test]
fn an_inherited_program_and_a_missing_struct_ops_are_reported() {
    let mut facts = healthy();
    facts.hookpoints[0].inherited = vec![AttachedProg {
        prog_id: 3,
        name: "parent_ops".into(),
    }];
    facts.struct_ops.clear();
    let report = diagnose(&facts);
    assert_eq!(
        report.findings,
        vec![
            Finding::StructOpsMissing {
                key: KEY.into(),
                name: "dctcp".into()
            },
            Finding::InheritedProgram {
                key: KEY.into(),
                cgroup: CG.into(),
                prog_id: 3,
                name: "parent_ops".into(),
                hookpoint: None,
            }
        ]
    );
    assert!(report.findings[1].problem().contains("ancestor"));
}

#[test]
fn pins_without_a_record_and_unused_struct_ops_are_reported() {
    let mut facts = healthy();
    facts.hookpoints.clear();
    let report = diagnose(&facts);
    assert_eq!(
        report.findings,
        vec![
            Finding::Unrecorded {
                key: KEY.into(),
                path: PathBuf::from("/b").join(KEY),
                link_prog_id: Some(7)
            },
            Finding::UnusedStructOps {
                name: "dctcp".into(),
                path: "/b/struct_ops/dctcp".into()
            }
        ]
    );
    assert!(report.healthy.is_empty());
    assert!(report.findings[0].problem().contains("unmanaged"));
}

#[test]
fn missing_pins_and_failed_queries_are_findings() {
    let mut facts = healthy();
    facts.hookpoints[0].dispatcher_id = None;
    facts.hookpoints[0].missing_members = vec!["init_cwnd/init_cwnd".into()];
    facts.hookpoints[0].attached = Err("EPERM".into());
    let kinds: Vec<String> = diagnose(&facts)
        .findings
        .iter()
        .map(|f| {
            serde_json::to_value(f).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "link_runs_other",
            "dispatcher_missing",
            "member_missing",
            "query_failed"
        ]
    );
}

#[test]
fn gather_reads_records_pins_and_the_inventory() {
    let layout = Layout {
        bpffs_root: "/b".into(),
        state_dir: "/s".into(),
    };
    let mut adapter = FakeAdapter::new();
    let rec = record(2);
    let gen = layout.generation_dir(KEY, 2);
    let chain = layout.chain_pin(KEY, 2);
    let disp = layout.dispatcher_pin(KEY, 2);
    adapter.make_dir(&gen).unwrap();
    adapter.create_chain_map(&chain).unwrap();
    let d = dispatcher::Dispatcher {
        hook: Hook::SockOps,
        insns: vec![],
        relocations: vec![],
        members: vec![],
    };
    let disp_id = adapter
        .load_dispatcher(&d, &[(dispatcher::CHAIN_MAP_NAME, chain.clone())], &disp)
        .unwrap();
    adapter
        .create_link(Path::new(CG), Hook::SockOps, &disp, &layout.link_pin(KEY))
        .unwrap();
    let mut store = MemStateStore::default();
    store.save(&rec).unwrap();
    let mut inventory = FakeInventory::default();
    inventory.cgroups.insert(CG.into(), 42);
    inventory.attached.insert(
        CG.into(),
        vec![AttachedProg {
            prog_id: disp_id,
            name: "accord_dispatch".into(),
        }],
    );
    inventory.inherited.insert(
        CG.into(),
        vec![AttachedProg {
            prog_id: 77,
            name: "parent_ops".into(),
        }],
    );
    let facts = gather(&layout, &adapter, &inventory, &store).unwrap();
    let hp = &facts.hookpoints[0];
    assert_eq!(hp.link_prog_id, Some(disp_id));
    assert_eq!(hp.dispatcher_id, Some(disp_id));
    assert_eq!(hp.missing_members, vec!["init_cwnd/init_cwnd".to_owned()]);
    assert_eq!(facts.pin_dirs.len(), 1);
    assert_eq!(facts.pin_dirs[0].generations, vec![(2, gen.clone())]);
    // Nothing registered `dctcp`; the ancestor's program is inherited.
    assert_eq!(
        diagnose(&facts).findings,
        vec![
            Finding::MemberMissing {
                key: KEY.into(),
                member: "init_cwnd/init_cwnd".into()
            },
            Finding::StructOpsMissing {
                key: KEY.into(),
                name: "dctcp".into()
            },
            Finding::InheritedProgram {
                key: KEY.into(),
                cgroup: CG.into(),
                prog_id: 77,
                name: "parent_ops".into(),
                hookpoint: None,
            }
        ]
    );
}

#[test]
fn programs_below_the_cgroup_are_reported_and_nested_chains_named() {
    let mut facts = healthy();
    let child = PathBuf::from(CG).join("child");
    facts.hookpoints[0].descendants = vec![
        (
            child.clone(),
            AttachedProg {
                prog_id: 9,
                name: "child_ops".into(),
            },
        ),
        (
            child.join("deeper"),
            AttachedProg {
                prog_id: 11,
                name: "accord_dispatch".into(),
            },
        ),
    ];
    // The second is the dispatcher of another accord hookpoint there.
    let mut nested = facts.hookpoints[0].clone();
    nested.record.key = "sock_ops-cg43".into();
    nested.record.cgroup = child.join("deeper");
    nested.record.cgroup_id = 43;
    nested.cgroup_id_now = Some(43);
    nested.link_prog_id = Some(11);
    nested.dispatcher_id = Some(11);
    nested.attached = Ok(vec![AttachedProg {
        prog_id: 11,
        name: "accord_dispatch".into(),
    }]);
    nested.descendants = vec![];
    nested.inherited = vec![AttachedProg {
        prog_id: 7,
        name: "accord_dispatch".into(),
    }];
    facts.hookpoints.push(nested);
    facts.pin_dirs.push(PinDirFacts {
        key: "sock_ops-cg43".into(),
        path: PathBuf::from("/b/sock_ops-cg43"),
        generations: vec![(2, PathBuf::from("/b/sock_ops-cg43/gen-2"))],
        link_prog_id: Some(11),
    });
    let report = diagnose(&facts);
    assert_eq!(
        report.findings,
        vec![
            Finding::DescendantProgram {
                key: KEY.into(),
                cgroup: CG.into(),
                descendant: child.clone(),
                prog_id: 9,
                name: "child_ops".into(),
                hookpoint: None,
            },
            Finding::DescendantProgram {
                key: KEY.into(),
                cgroup: CG.into(),
                descendant: child.join("deeper"),
                prog_id: 11,
                name: "accord_dispatch".into(),
                hookpoint: Some("sock_ops-cg43".into()),
            },
            Finding::InheritedProgram {
                key: "sock_ops-cg43".into(),
                cgroup: child.join("deeper"),
                prog_id: 7,
                name: "accord_dispatch".into(),
                hookpoint: Some(KEY.into()),
            },
        ]
    );
    assert!(report.findings[0]
        .problem()
        .contains("below /sys/fs/cgroup/svc"));
    assert!(report.findings[1]
        .problem()
        .contains("never checked as one composition"));
    assert!(report.findings[1].action().contains("one composition"));
    assert!(report.findings[2]
        .problem()
        .contains("accord's chain sock_ops-cg42"));
    assert!(report.healthy.is_empty());
}

#[test]
fn the_fake_inventory_lists_cgroups_below_one() {
    let mut inventory = FakeInventory::default();
    for (p, id) in [
        ("/cg/a", 1),
        ("/cg/a/b", 2),
        ("/cg/a/b/c", 3),
        ("/cg/ab", 4),
    ] {
        inventory.cgroups.insert(p.into(), id);
    }
    assert_eq!(
        inventory.descendants(Path::new("/cg/a")),
        vec![PathBuf::from("/cg/a/b"), PathBuf::from("/cg/a/b/c")]
    );
}
