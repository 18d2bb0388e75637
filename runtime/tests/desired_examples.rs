//! The example compositions, turned into desired chains with the built-in
//! objects: every member's config image matches its object's maps under
//! the ABI's layout rule (checked on the ELF, without a kernel), and the
//! dispatcher and slots follow the proven order. And object resolution:
//! a spec's `object:` resolves exactly as written, or is an input error
//! at the `object:` key.

use std::path::{Path, PathBuf};

use composer::check::CheckOptions;
use composer::load::{self, LoadOptions};
use runtime::desired::{self, Target};
use runtime::resolve::{ObjectError, ResolvedObjects, SpecObjects};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn objects(comp: &composer::ir::Composition) -> ResolvedObjects {
    ResolvedObjects::resolve(comp, &SpecObjects::built_in()).expect("the objects resolve")
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
    let chain = desired::from_composition(&comp, &order, target, 0, &objects(&comp)).unwrap();
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
        assert_eq!(m.object.origin, format!("builtin:{}", m.feature));
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

/// A spec of one program `name` naming `object` (None: no `object:` line),
/// in a fresh directory holding `files`; its composition loaded.
fn spec_with(
    tag: &str,
    name: &str,
    object: Option<&str>,
    files: &[(&str, &[u8])],
) -> (PathBuf, composer::ir::Composition) {
    let dir = std::env::temp_dir().join(format!("accord-resolve-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (f, bytes) in files {
        std::fs::write(dir.join(f), bytes).unwrap();
    }
    let object_line = object.map_or(String::new(), |o| format!("    object: {o}\n"));
    let spec = format!(
        "feature: {name}\nprograms:\n  - name: {name}\n    hook: sock_ops\n{object_line}    reads: [op]\n    writes: []\n"
    );
    std::fs::write(dir.join("f.yaml"), spec).unwrap();
    std::fs::write(
        dir.join("c.yaml"),
        "composition: c\nhook: sock_ops\nfeatures:\n  - spec: f.yaml\n",
    )
    .unwrap();
    let opts = LoadOptions {
        specs_dir: Some(repo().join("specs")),
        catalog: None,
    };
    let comp = load::load_composition(&dir.join("c.yaml"), &opts)
        .unwrap_or_else(|e| panic!("{}", composer::report::load_errors_human(&e)));
    (dir, comp)
}

fn resolve(comp: &composer::ir::Composition) -> Result<ResolvedObjects, Vec<ObjectError>> {
    ResolvedObjects::resolve(comp, &SpecObjects::built_in()).map_err(|e| e.errors)
}

fn builtin(name: &str) -> &'static [u8] {
    runtime::objects::feature_object(name)
        .or_else(|| runtime::objects::testing_object(name))
        .unwrap()
}

#[test]
fn an_object_resolves_exactly_as_the_spec_writes_it() {
    let member = composer::ir::MemberId {
        feature: "init_cwnd".into(),
        program: "init_cwnd".into(),
    };
    // A file beside the spec: those bytes, whatever accord has built in.
    let local = builtin("init_cwnd");
    let (dir, comp) = spec_with(
        "file",
        "init_cwnd",
        Some("build/init_cwnd.bpf.o"),
        &[("build", b"")],
    );
    std::fs::remove_file(dir.join("build")).unwrap();
    std::fs::create_dir_all(dir.join("build")).unwrap();
    std::fs::write(dir.join("build/init_cwnd.bpf.o"), local).unwrap();
    let got = resolve(&comp).unwrap();
    let o = &got.get(&member).unwrap().object;
    assert_eq!(
        o.origin,
        format!("file:{}", dir.join("build/init_cwnd.bpf.o").display())
    );
    assert_eq!(&*o.bytes, local);

    // `builtin:` asks for the object built into accord.
    let (_, comp) = spec_with("builtin", "init_cwnd", Some("builtin:init_cwnd"), &[]);
    let got = resolve(&comp).unwrap();
    assert_eq!(got.get(&member).unwrap().object.origin, "builtin:init_cwnd");
    assert_eq!(
        got.get(&member).unwrap().object.name,
        "init_cwnd.bpf.o",
        "records keep the object's file name"
    );
}

#[test]
fn a_missing_or_wrong_object_is_an_input_error_at_its_object_key() {
    // Each case: the spec's object line, files beside it, what the error says.
    let sndbuf = builtin("sndbuf");
    let stowaway = builtin("stowaway");
    type Case<'a> = (
        &'a str,
        &'a str,
        Option<&'a str>,
        Vec<(&'a str, &'a [u8])>,
        Vec<&'a str>,
    );
    let cases: Vec<Case<'_>> = vec![
        (
            "missing",
            "init_cwnd",
            Some("init_cwnd.bpf.o"),
            vec![],
            // No fallback to the built-in object of the same file name.
            vec!["f.yaml:5:5: error: member init_cwnd: object", "init_cwnd.bpf.o does not exist", "builtin:<name>", "init_cwnd, "],
        ),
        (
            "unknown-builtin",
            "init_cwnd",
            Some("builtin:init_cwdn"),
            vec![],
            vec!["f.yaml:5:5: error: member init_cwnd: no object `builtin:init_cwdn` is built into accord; did you mean `builtin:init_cwnd`?"],
        ),
        (
            "unnamed",
            "init_cwnd",
            None,
            vec![],
            vec!["f.yaml:3:", "error: member init_cwnd: the spec names no object"],
        ),
        (
            "not-elf",
            "init_cwnd",
            Some("junk.bpf.o"),
            vec![("junk.bpf.o", b"not an object")],
            vec!["f.yaml:5:5: error: member init_cwnd: file:", "is not a BPF object accord can read"],
        ),
        (
            "wrong-program",
            "init_cwnd",
            Some("x.bpf.o"),
            vec![("x.bpf.o", sndbuf)],
            vec!["f.yaml:5:5: error: member init_cwnd: object file:", "has no program `init_cwnd` (it has: sndbuf)"],
        ),
        (
            "extra-program",
            "stowaway",
            Some("s.bpf.o"),
            vec![("s.bpf.o", stowaway)],
            vec!["also holds program(s) stowaway_extra that no program of its feature declares (it has: stowaway, stowaway_extra)"],
        ),
    ];
    for (tag, name, object, files, needles) in cases {
        let (_, comp) = spec_with(tag, name, object, &files);
        let errors = resolve(&comp).expect_err(tag);
        assert_eq!(errors.len(), 1, "{tag}: {errors:?}");
        let text = errors[0].to_string();
        for n in needles {
            assert!(text.contains(n), "{tag}: expected {n:?} in:\n{text}");
        }
    }
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
    let err = desired::from_composition(&comp, &order, target, 0, &objects(&comp)).unwrap_err();
    assert!(err.to_string().contains("at most 32 members"), "{err}");
}
