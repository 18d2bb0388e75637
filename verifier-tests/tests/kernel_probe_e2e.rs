//! The BPF adapter's kernel probe against what the kernel really does, on
//! whichever kernel runs the test (scripts/test-kernels runs it on 6.1,
//! 6.12 and the host's): every basic feature accord needs is there, an
//! option no kernel has is refused while the catalog's are answered, the
//! features whose arrival is known (struct_ops links in 6.4, cgroup
//! BEFORE/AFTER in 6.17) are reported exactly from those releases on, and
//! the struct_ops registration the probe picks works where the other one
//! does not (the 6.1 fallback: registered through the map, unregistered by
//! removing its pin).

use runtime::adapter::real::RealAdapter;
use runtime::adapter::BpfAdapter;
use runtime::kernel::{builtin_sockopt_options, SockoptOption, Support};
use runtime::objects::struct_ops_object;
use runtime::struct_ops::{self, Registration};
use verifier_tests::*;

/// (major, minor) of the running kernel.
fn release() -> (u32, u32) {
    let text = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut parts = text
        .trim()
        .split(['.', '-'])
        .map(|p| p.parse().unwrap_or(0));
    (parts.next().unwrap(), parts.next().unwrap())
}

#[test]
fn the_probe_matches_what_the_kernel_does() {
    if !require_root_or_skip("kernel probe") {
        return;
    }
    let bogus = SockoptOption {
        name: "NO_SUCH_OPTION".into(),
        level: 6,
        option: 4242,
        string: false,
    };
    let mut options = builtin_sockopt_options();
    options.push(bogus);
    let k = RealAdapter::default().probe(&options);
    eprintln!("{k}");
    for lack in k.lacks() {
        eprintln!("  lacks {lack}");
    }
    let (major, minor) = release();
    assert!(k.release.starts_with(&format!("{major}.{minor}")), "{k}");

    // What every kernel of the matrix has, and accord needs.
    assert!(
        k.bpffs && k.btf && k.cgroup_link && k.socket_storage && k.ringbuf,
        "{k}"
    );
    assert!(k.iter_tcp, "iter/tcp with bpf_setsockopt is 5.14: {k}");
    assert!(k.struct_ops, "{k}");
    // Features whose arrival is known, reported exactly from there on.
    assert_eq!(k.struct_ops_link, (major, minor) >= (6, 4), "{k}");
    assert_eq!(k.cgroup_mprog_ordering, (major, minor) >= (6, 17), "{k}");

    // Every option answered; the one no kernel has refused.
    assert_eq!(
        k.setsockopt.get("NO_SUCH_OPTION"),
        Some(&Support::No),
        "{k:?}"
    );
    for o in builtin_sockopt_options() {
        assert_ne!(
            k.setsockopt.get(&o.name),
            Some(&Support::Unknown),
            "{}",
            o.name
        );
        assert!(k.setsockopt.contains_key(&o.name), "{}", o.name);
    }
    // The options the shipped features write are there on every kernel of
    // the matrix (the features' end-to-end tests show their effects).
    for name in [
        "TCP_CONGESTION",
        "TCP_BPF_IW",
        "TCP_BPF_RTO_MIN",
        "TCP_BPF_DELACK_MAX",
        "TCP_MAXSEG",
        "SO_SNDBUF",
    ] {
        assert_eq!(k.setsockopt.get(name), Some(&Support::Yes), "{name}: {k:?}");
    }
}

#[test]
fn struct_ops_registers_the_way_the_probe_says_and_unregisters_by_its_pin() {
    if !require_root_or_skip("struct_ops registration modes") {
        return;
    }
    let _lock = dctcp_lock().unwrap();
    if !bpf_dctcp_free() {
        eprintln!("skipping test - bpf_dctcp is registered outside the tests");
        return;
    }
    let pins = PinDir::create("probe_so").unwrap();
    let object = struct_ops_object("bpf_dctcp").unwrap();
    let links = RealAdapter::default().probe(&[]).struct_ops_link;
    let (works, refused) = if links {
        (Registration::Link, Registration::Map)
    } else {
        (Registration::Map, Registration::Link)
    };
    assert_eq!(Registration::probe(), works);
    if !links {
        // Without struct_ops links, the link registration is what fails.
        let err = struct_ops::register_as("bpf_dctcp", object, pins.path(), refused).unwrap_err();
        eprintln!("{refused:?} registration refused as expected: {err}");
        assert!(bpf_dctcp_free(), "a failed registration leaves nothing");
    }
    // The chosen registration; with links, also the map one (newer kernels
    // keep it), so the host runs the 6.1 fallback's code too.
    let modes: &[Registration] = if links {
        &[Registration::Link, Registration::Map]
    } else {
        &[Registration::Map]
    };
    for &how in modes {
        let registered = struct_ops::register_as("bpf_dctcp", object, pins.path(), how)
            .unwrap_or_else(|e| panic!("{how:?} registration: {e}"));
        assert_eq!(registered.len(), 1);
        assert!(registered[0].pin.exists());
        assert!(struct_ops::congestion_control_available("bpf_dctcp").unwrap());
        // Removing the pin unregisters, whichever way it was registered.
        struct_ops::unregister(&registered).unwrap();
        assert!(!registered[0].pin.exists());
        assert!(
            bpf_dctcp_free(),
            "{how:?}: bpf_dctcp is still registered after its pin went"
        );
    }
}
