//! The BPF adapter's kernel probe against what the kernel really does, on
//! whichever kernel runs the test (scripts/test-kernels runs it on 6.1,
//! 6.12 and the host's): every basic feature accord needs is there, an
//! option no kernel has is refused while the catalog's are answered,
//! struct_ops links are reported from 6.4 on, cgroup BEFORE/AFTER ordering
//! exactly where another attach shows it (Debian's 6.12 has it), and
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
    // struct_ops links arrived in 6.4 (Debian's kernels have no backport).
    assert_eq!(k.struct_ops_link, (major, minor) >= (6, 4), "{k}");
    // BEFORE/AFTER of cgroup programs is 6.17 upstream, but Debian's 6.12
    // has it too: checked here another way than the probe's (a link put
    // before every other one, not before one named link).
    assert_eq!(k.cgroup_mprog_ordering, before_all_runs_first(), "{k}");

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

/// Links X, then Y with `BPF_F_BEFORE` and no relative program on a test
/// cgroup: true when the kernel then runs Y first.
fn before_all_runs_first() -> bool {
    use runtime::adapter::inventory::{Inventory, RealInventory};
    use runtime::dispatcher::Hook;
    use std::os::fd::AsFd;
    const RETURN_ONE: [u8; 16] = [0xb7, 0, 0, 0, 1, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0];
    let load = || runtime::sys::prog_load(13, 3, "accord_test", &RETURN_ONE).unwrap();
    let (x, y) = (load(), load());
    let cg = TestCgroup::create("mprog").unwrap();
    let dir = cg.open().unwrap();
    let _x_link = runtime::sys::link_create(x.as_fd(), dir.as_fd(), 3).unwrap();
    let y_link = runtime::sys::link_create_ordered(
        y.as_fd(),
        dir.as_fd(),
        3,
        runtime::sys::BPF_F_BEFORE,
        None,
    );
    let Ok(_y_link) = y_link else {
        return false;
    };
    let id = |p: &std::os::fd::OwnedFd| runtime::sys::prog_info(p.as_fd()).unwrap().id;
    let order: Vec<u32> = RealInventory
        .attached(cg.path(), Hook::SockOps)
        .unwrap()
        .iter()
        .map(|p| p.prog_id)
        .collect();
    order == [id(&y), id(&x)]
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

/// A copy of the repository's specs whose catalog also lists an option no
/// kernel has, and a feature (init_cwnd's object) whose spec writes it.
fn specs_with_an_unknown_option(dir: &std::path::Path) -> std::path::PathBuf {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::create_dir_all(dir.join("specs/hooks")).unwrap();
    std::fs::create_dir_all(dir.join("specs/features")).unwrap();
    let catalog = std::fs::read_to_string(repo.join("specs/hooks/sock_ops.yaml")).unwrap();
    let catalog = catalog.replacen(
        "\nwritable:\n",
        "\nwritable:\n  NO_SUCH_OPTION:\n    type: u32\n    method: { kind: setsockopt, level: SOL_TCP, level_value: 6, option: NO_SUCH_OPTION, option_value: 4242 }\n    merge: conflict\n    description: an option no kernel has\n",
        1,
    );
    assert!(
        catalog.contains("NO_SUCH_OPTION"),
        "the catalog has a writable: section"
    );
    std::fs::write(dir.join("specs/hooks/sock_ops.yaml"), catalog).unwrap();
    let spec = std::fs::read_to_string(repo.join("specs/features/init_cwnd.yaml"))
        .unwrap()
        .replace("field: TCP_BPF_IW", "field: NO_SUCH_OPTION");
    assert!(spec.contains("NO_SUCH_OPTION"));
    std::fs::write(dir.join("specs/features/init_cwnd.yaml"), spec).unwrap();
    let composition = dir.join("composition.yaml");
    std::fs::write(
        &composition,
        "composition: unknown_option\nhook: sock_ops\nfeatures:\n  - spec: specs/features/init_cwnd.yaml\n    config: { iw: 40, prefixes: [127.0.0.2/32] }\n",
    )
    .unwrap();
    composition
}

#[test]
fn an_option_the_kernel_refuses_refuses_the_apply_before_anything_loads() {
    if !require_root_or_skip("apply refused by the kernel probe") {
        return;
    }
    let Some(accord) = accord_bin_or_skip("apply refused by the kernel probe") else {
        return;
    };
    let dir = std::env::temp_dir().join(unique_name("kprobe"));
    let pins = PinDir::create("kprobe").unwrap();
    let cg = TestCgroup::create("kprobe").unwrap();
    let composition = specs_with_an_unknown_option(&dir);
    let bpffs_root = pins.path().join("root");
    // The spec claims init_cwnd's object writes the unknown option (no
    // object does): the bytecode audit would refuse that lie first, so it
    // is skipped to reach the kernel's answer.
    let out = std::process::Command::new(&accord)
        .arg("apply")
        .arg("--skip-audit")
        .arg(&composition)
        .arg("--cgroup")
        .arg(cg.path())
        .env("ACCORD_BPFFS_ROOT", &bpffs_root)
        .env("ACCORD_STATE_DIR", dir.join("state"))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(
        text.contains("cannot run this chain (nothing was loaded)"),
        "{text}"
    );
    assert!(
        text.contains("bpf_setsockopt refuses NO_SUCH_OPTION (level 6, option 4242)")
            && text.contains("written by init_cwnd"),
        "{text}"
    );
    assert!(!text.contains("verifier"), "no verifier error: {text}");
    let left: Vec<_> = std::fs::read_dir(&bpffs_root)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "nothing pinned: {left:?}");
}
