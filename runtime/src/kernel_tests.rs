//! The kernel decisions against made-up probe results: what Debian 12's
//! 6.1 lacks (struct_ops links, cgroup BEFORE/AFTER), a kernel without
//! iter/tcp, one that refuses a socket option, one without the basics.

use std::path::Path;

use super::*;

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn catalog() -> HookCatalog {
    composer::load::load_catalog(&repo().join("specs/hooks/sock_ops.yaml")).expect("catalog")
}

fn demo_needs() -> Needs {
    let opts = composer::load::LoadOptions::default();
    let comp = composer::load::load_composition(&repo().join("examples/demo/loopback.yaml"), &opts)
        .expect("demo composition");
    let mut needs = Needs::of_composition(&comp);
    needs.struct_ops = vec!["bpf_dctcp/bpf_dctcp".into()];
    needs
}

/// What the probe saw on Debian 12's 6.1 (the kernel matrix's run).
fn debian_6_1() -> KernelFeatures {
    let mut k = KernelFeatures::everything(&SockoptOption::of_catalog(&catalog()));
    k.release = "6.1.0-50-amd64".into();
    k.struct_ops_link = false;
    k.cgroup_mprog_ordering = false;
    k
}

#[test]
fn the_catalog_gives_every_setsockopt_option_and_only_those() {
    let options = SockoptOption::of_catalog(&catalog());
    let names: Vec<&str> = options.iter().map(|o| o.name.as_str()).collect();
    for expected in [
        "TCP_BPF_IW",
        "TCP_BPF_RTO_MIN",
        "TCP_CONGESTION",
        "SO_SNDBUF",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    assert!(
        !names.contains(&"reply"),
        "a context store is not an option"
    );
    assert!(!names.contains(&"cb_flags"), "a helper is not an option");
    let cc = options.iter().find(|o| o.name == "TCP_CONGESTION").unwrap();
    assert!(cc.string);
    assert_eq!((cc.level, cc.option), (6, 13));
    let iw = options.iter().find(|o| o.name == "TCP_BPF_IW").unwrap();
    assert!(!iw.string);
    assert_eq!((iw.level, iw.option), (6, 1001));
}

#[test]
fn the_built_in_catalog_gives_the_same_options_as_the_composer() {
    assert_eq!(
        builtin_sockopt_options(),
        SockoptOption::of_catalog(&catalog())
    );
}

#[test]
fn a_composition_needs_the_options_its_members_write() {
    let needs = demo_needs();
    let find = |name: &str| needs.setsockopt.iter().find(|(o, _)| o.name == name);
    let (_, writers) = find("TCP_BPF_IW").expect("init_cwnd writes TCP_BPF_IW");
    assert_eq!(writers, &vec!["init_cwnd".to_string()]);
    assert!(find("TCP_CONGESTION").is_some(), "bpf_dctcp selects its cc");
    assert!(find("SO_SNDBUF").is_some());
    assert!(
        find("SO_MARK").is_none(),
        "nothing in the demo writes SO_MARK"
    );
    assert_eq!(needs.options().len(), needs.setsockopt.len());
}

#[test]
fn debian_6_1_runs_the_demo_with_the_struct_ops_fallback() {
    let k = debian_6_1();
    let fallbacks = k.admit(&demo_needs()).expect("6.1 runs the demo");
    assert_eq!(fallbacks.len(), 1, "{fallbacks:?}");
    assert!(
        fallbacks[0].contains("bpf_dctcp") && fallbacks[0].contains("registered through its map"),
        "{fallbacks:?}"
    );
    let lacks = k.lacks();
    let features: Vec<&str> = lacks.iter().map(|l| l.feature.as_str()).collect();
    assert_eq!(
        features,
        ["struct_ops links", "cgroup BEFORE/AFTER ordering"],
        "{lacks:?}"
    );
    assert!(matches!(lacks[0].consequence, Consequence::Fallback(_)));
    assert!(matches!(lacks[1].consequence, Consequence::NotNeeded(_)));
    assert_eq!(lacks[0].since, "6.4");
}

#[test]
fn a_kernel_with_everything_lacks_nothing_and_needs_no_fallback() {
    let k = KernelFeatures::everything(&SockoptOption::of_catalog(&catalog()));
    assert!(k.lacks().is_empty());
    assert_eq!(k.admit(&demo_needs()), Ok(vec![]));
}

#[test]
fn a_refused_option_refuses_the_apply_naming_option_and_members() {
    let mut k = debian_6_1();
    k.setsockopt.insert("TCP_BPF_RTO_MIN".into(), Support::No);
    let err = k.admit(&demo_needs()).unwrap_err();
    assert_eq!(err.reasons.len(), 1, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("kernel 6.1.0-50-amd64 cannot run this chain"),
        "{text}"
    );
    assert!(
        text.contains("TCP_BPF_RTO_MIN (level 6, option 1004)"),
        "{text}"
    );
    assert!(text.contains("written by rto_min"), "{text}");
    // A chain that does not write it is not affected.
    let mut needs = demo_needs();
    needs
        .setsockopt
        .retain(|(o, _)| o.name != "TCP_BPF_RTO_MIN");
    assert!(k.admit(&needs).is_ok());
    // And the lack is listed as a refusal.
    assert!(k
        .lacks()
        .iter()
        .any(|l| l.feature == "bpf_setsockopt TCP_BPF_RTO_MIN"
            && matches!(l.consequence, Consequence::Refused(_))));
}

#[test]
fn without_iter_tcp_options_are_unknown_and_the_apply_goes_on_with_a_warning() {
    let mut k = debian_6_1();
    k.iter_tcp = false;
    for v in k.setsockopt.values_mut() {
        *v = Support::Unknown;
    }
    let fallbacks = k.admit(&demo_needs()).expect("not refused");
    assert!(fallbacks
        .iter()
        .any(|f| f.contains("TCP_BPF_IW was not probed") && f.contains("init_cwnd")));
    let lacks = k.lacks();
    assert!(lacks
        .iter()
        .any(|l| l.feature == "iter/tcp with bpf_setsockopt"
            && l.consequence.to_string().contains("does not retune")));
}

#[test]
fn without_struct_ops_a_member_that_needs_one_is_refused() {
    let mut k = debian_6_1();
    k.struct_ops = false;
    let err = k.admit(&demo_needs()).unwrap_err();
    assert!(
        err.reasons[0].contains("bpf_dctcp/bpf_dctcp needs a struct_ops"),
        "{err}"
    );
    // No struct_ops at all: the "links" line would say nothing new.
    assert!(!k.lacks().iter().any(|l| l.feature == "struct_ops links"));
    let mut needs = demo_needs();
    needs.struct_ops.clear();
    assert!(k.admit(&needs).is_ok());
}

#[test]
fn missing_basics_are_every_reason_at_once() {
    let mut k = debian_6_1();
    k.cgroup_link = false;
    k.ringbuf = false;
    k.socket_storage = false;
    let err = k.admit(&Needs::default()).unwrap_err();
    assert_eq!(err.reasons.len(), 3, "{err}");
    let text = err.to_string();
    for part in [
        "cgroup BPF links",
        "SK_STORAGE",
        "RINGBUF",
        "nothing was loaded",
    ] {
        assert!(text.contains(part), "{part}: {text}");
    }
}

#[test]
fn the_summary_line_names_each_feature() {
    let k = debian_6_1();
    let line = k.to_string();
    assert!(line.starts_with("6.1.0-50-amd64: bpffs yes"), "{line}");
    assert!(line.contains("struct_ops links no"), "{line}");
    assert!(line.contains("cgroup BEFORE/AFTER ordering no"), "{line}");
    let n = k.setsockopt.len();
    assert!(
        line.ends_with(&format!("bpf_setsockopt options {n}/{n}")),
        "{line}"
    );
}
