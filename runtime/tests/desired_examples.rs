//! The example compositions, turned into desired chains with the embedded
//! objects: every member's config image matches its object's maps under
//! the ABI's layout rule (checked on the ELF, without a kernel), and the
//! dispatcher and slots follow the proven order.

use std::path::{Path, PathBuf};

use composer::check::CheckOptions;
use composer::load::{self, LoadOptions};
use runtime::desired::{self, FilesThenEmbedded, ObjectSource, Target};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn objects() -> FilesThenEmbedded {
    FilesThenEmbedded {
        embedded: runtime::objects::feature_object,
        struct_ops: runtime::objects::struct_ops_object,
    }
}

#[test]
fn storage_hosts_members_match_their_objects() {
    let path = repo().join("examples/storage-hosts/composition.yaml");
    let comp = load::load_composition(&path, &LoadOptions::default()).expect("the example loads");
    let outcome = composer::check::check(&comp, &CheckOptions::default());
    assert!(outcome.is_safe(), "the demo composition is safe");
    let order = outcome.order.unwrap();
    let target = Target {
        cgroup: PathBuf::from("/sys/fs/cgroup/demo"),
        cgroup_id: 42,
    };
    let chain = desired::from_composition(&comp, &order, target, 0, &objects()).unwrap();
    assert_eq!(chain.key, "sock_ops-cg42");
    let names: Vec<String> = chain.members.iter().map(|m| m.id().to_string()).collect();
    let expected: Vec<String> = order.iter().map(ToString::to_string).collect();
    assert_eq!(names, expected, "slots follow the proven order");
    let d = chain.dispatcher().unwrap();
    assert_eq!(d.members.len(), chain.members.len());

    for m in &chain.members {
        let obj = aya_obj::Object::parse(&m.object.bytes).expect("an ELF object");
        let map = |name: &str| obj.maps.get(name);
        match &m.config.scalar {
            Some(bytes) => {
                let cfg = map("accord_config")
                    .unwrap_or_else(|| panic!("{}: no accord_config", m.feature));
                assert_eq!(
                    cfg.value_size() as usize,
                    bytes.len(),
                    "{}: accord_config layout",
                    m.feature
                );
            }
            None => assert!(
                map("accord_config").is_none(),
                "{}: config map without scalar params",
                m.feature
            ),
        }
        for set in &m.config.sets {
            let s = map(&set.map_name())
                .unwrap_or_else(|| panic!("{}: no {}", m.feature, set.map_name()));
            for key in &set.keys {
                assert_eq!(
                    key.len(),
                    s.key_size() as usize,
                    "{}: {} key layout",
                    m.feature,
                    set.map_name()
                );
            }
        }
        assert!(
            map("accord_chain").is_some(),
            "{}: shares the chain map",
            m.feature
        );
        assert!(m.object.origin == "embedded" || m.object.origin.starts_with("file:"));
    }
    let dctcp = chain
        .members
        .iter()
        .find(|m| m.feature == "bpf_dctcp")
        .expect("the demo selects DCTCP");
    assert_eq!(
        dctcp.struct_ops.as_ref().map(|s| s.name.as_str()),
        Some("bpf_dctcp")
    );
    assert_eq!(chain.record(1).struct_ops, vec!["bpf_dctcp".to_owned()]);
}

#[test]
fn objects_come_from_beside_the_spec_first_then_from_the_binary() {
    let dir = std::env::temp_dir().join(format!("accord-objects-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let member = composer::ir::MemberId {
        feature: "init_cwnd".into(),
        program: "init_cwnd".into(),
    };
    let mut program = composer::ir::Program {
        name: "init_cwnd".into(),
        hook: "sock_ops".into(),
        object: Some(dir.join("init_cwnd.bpf.o")),
        reads: vec![],
        writes: vec![],
        span: None,
        ends_chain: false,
    };
    let embedded = objects().find(&member, &program).unwrap();
    assert_eq!(embedded.origin, "embedded");
    std::fs::write(dir.join("init_cwnd.bpf.o"), b"local build").unwrap();
    let local = objects().find(&member, &program).unwrap();
    assert!(local.origin.starts_with("file:"), "{}", local.origin);
    assert_eq!(&*local.bytes, b"local build");
    assert_ne!(local.digest, embedded.digest);
    program.object = Some(dir.join("nowhere.bpf.o"));
    let err = objects().find(&member, &program).unwrap_err();
    assert!(err.to_string().contains("nowhere.bpf.o"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn more_than_32_members_are_refused_before_anything_else() {
    let path = repo().join("examples/storage-hosts/composition.yaml");
    let comp = load::load_composition(&path, &LoadOptions::default()).unwrap();
    let first = comp.members().next().unwrap().0;
    let order = vec![first; 33];
    let target = Target {
        cgroup: PathBuf::from("/x"),
        cgroup_id: 1,
    };
    let err = desired::from_composition(&comp, &order, target, 0, &objects()).unwrap_err();
    assert!(err.to_string().contains("at most 32 members"), "{err}");
}
