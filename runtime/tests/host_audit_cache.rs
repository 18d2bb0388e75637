//! The host-side audit's verdict cache, without a kernel: a clean verdict
//! is given once per (auditor, object, spec, catalog) and trusted after;
//! a changed object or spec is audited again; a refusal is never cached.

use std::path::{Path, PathBuf};

use composer::ir::MemberId;
use composer::load::{self, LoadOptions};
use runtime::host_audit::{audit_members, AuditCache, AuditStamp, Verdict};
use runtime::resolve::{ResolvedObject, ResolvedObjects, SpecObjects};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn storage_hosts() -> composer::ir::Composition {
    let path = repo().join("examples/storage-hosts/composition.yaml");
    load::load_composition(&path, &LoadOptions::default()).expect("the example loads")
}

fn cache_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("accord-audit-cache-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn a_clean_verdict_is_given_once_and_trusted_after() {
    let comp = storage_hosts();
    let objects = ResolvedObjects::resolve(&comp, &SpecObjects::built_in()).unwrap();
    let members = comp.members().count();
    let dir = cache_dir("clean");
    let cache = AuditCache::in_dir(dir.clone());

    let first = audit_members(&comp, &objects, &cache);
    assert_eq!(
        first.verdict(),
        Verdict::Clean,
        "{}",
        first.refusal_report()
    );
    assert_eq!(first.cached.len(), 0);
    let audited: usize = first.audits.iter().map(|a| a.programs.len()).sum();
    assert_eq!(audited, members);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), members);

    let second = audit_members(&comp, &objects, &cache);
    assert_eq!(second.verdict(), Verdict::Clean);
    assert_eq!(second.cached.len(), members);
    assert!(second.audits.is_empty(), "nothing audited again");
    assert_eq!(second.stamp(), first.stamp());
    assert!(matches!(second.stamp(), AuditStamp::Clean { .. }));

    // Without a cache, or with another cache directory, everything is audited.
    let none = audit_members(&comp, &objects, &AuditCache::none());
    assert_eq!(none.cached.len(), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_changed_object_or_spec_is_audited_again_and_a_refusal_is_never_cached() {
    let mut comp = storage_hosts();
    let objects = ResolvedObjects::resolve(&comp, &SpecObjects::built_in()).unwrap();
    let dir = cache_dir("changed");
    let cache = AuditCache::in_dir(dir.clone());
    audit_members(&comp, &objects, &cache);

    // init_cwnd's program given rwnd_init's object (renamed program, so the
    // audit finds it): a different object digest, so audited, and refused.
    let init = MemberId {
        feature: "init_cwnd".into(),
        program: "init_cwnd".into(),
    };
    let rwnd = runtime::objects::feature_object("rwnd_init").unwrap();
    let f = comp
        .features
        .iter_mut()
        .find(|f| f.name == "init_cwnd")
        .unwrap();
    f.programs[0].name = "rwnd_init".into();
    let swapped: Vec<(MemberId, ResolvedObject)> = objects
        .iter()
        .map(|(id, o)| {
            if *id != init {
                return (id.clone(), o.clone());
            }
            let mut o = o.clone();
            o.object = runtime::desired::ObjectImage::new(
                "init_cwnd.bpf.o",
                "file:/elsewhere/init_cwnd.bpf.o".into(),
                rwnd.to_vec(),
            );
            let renamed = MemberId {
                feature: "init_cwnd".into(),
                program: "rwnd_init".into(),
            };
            (renamed, o)
        })
        .collect();
    let swapped = ResolvedObjects::from_members(swapped);
    for _ in 0..2 {
        let audit = audit_members(&comp, &swapped, &cache);
        assert_eq!(
            audit.verdict(),
            Verdict::Undeclared,
            "{}",
            audit.refusal_report()
        );
        assert_eq!(audit.audits.len(), 1, "only the changed member is audited");
        assert!(audit.refusal_report().contains("audit init_cwnd"));
    }

    // A spec edit (a different declared value) is a different spec digest.
    let mut comp = storage_hosts();
    let f = comp
        .features
        .iter_mut()
        .find(|f| f.name == "sndbuf")
        .unwrap();
    f.programs[0].writes[0].guard_text.push(' ');
    let audit = audit_members(&comp, &objects, &cache);
    assert_eq!(
        audit.audits.len(),
        1,
        "only the edited spec is audited again"
    );
    assert_eq!(audit.audits[0].feature, "sndbuf");
    std::fs::remove_dir_all(&dir).unwrap();
}
