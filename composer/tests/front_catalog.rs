//! The sock_ops hook catalog against the kernel: every readable field's
//! offset and size in `struct bpf_sock_ops`, every setsockopt level and
//! option number and the helper id are compared with the installed headers
//! (a small C program built with the system C compiler), and the enum
//! values with the headers and with the running kernel's BTF.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use composer::ir::{HookCatalog, ValueType, WriteMethod};
use composer::load::load_catalog;

fn catalog() -> HookCatalog {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs/hooks/sock_ops.yaml");
    load_catalog(&p).unwrap_or_else(|e| panic!("{}", composer::report::load_errors_human(&e)))
}

fn skip(why: &str) {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{why} (CI=true: this test must run)");
    }
    eprintln!("skipping test - {why}");
}

/// Compiles and runs `body` inside `main`, returning `NAME VALUE` lines.
fn run_c(body: &str) -> Option<BTreeMap<String, i64>> {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("accord-catalog-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let src = dir.join("probe.c");
    let exe: PathBuf = dir.join("probe");
    let text = format!(
        "#include <stdio.h>\n#include <stddef.h>\n#include <sys/socket.h>\n#include <netinet/in.h>\n#include <netinet/tcp.h>\n#include <linux/bpf.h>\n\
         #define P(name, v) printf(\"%s %lld\\n\", name, (long long)(v))\nint main(void) {{\n{body}\nreturn 0;\n}}\n"
    );
    std::fs::write(&src, text).ok()?;
    let cc = Command::new("cc")
        .arg("-o")
        .arg(&exe)
        .arg(&src)
        .output()
        .ok()?;
    assert!(
        cc.status.success(),
        "probe does not compile:\n{}",
        String::from_utf8_lossy(&cc.stderr)
    );
    let out = Command::new(&exe).output().ok()?;
    let _ = std::fs::remove_dir_all(&dir);
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once(' '))
            .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
            .collect(),
    )
}

#[test]
fn readable_offsets_sizes_and_write_constants_match_the_kernel_headers() {
    if !Path::new("/usr/include/linux/bpf.h").exists()
        || Command::new("cc").arg("--version").output().is_err()
    {
        return skip("needs a C compiler and /usr/include/linux/bpf.h");
    }
    let cat = catalog();
    let mut body = String::new();
    // The catalog's `remote_port` etc. are the struct's members of the same name.
    // Virtual fields (`remote_ip`, no offset) are not struct members.
    for f in cat.readable.values().filter(|f| f.offset.is_some()) {
        body += &format!("P(\"off.{0}\", offsetof(struct bpf_sock_ops, {0})); P(\"size.{0}\", sizeof(((struct bpf_sock_ops *)0)->{0}));\n", f.name);
    }
    for w in cat.writable.values() {
        match &w.method {
            WriteMethod::Setsockopt { level, option, .. } => {
                body += &format!("P(\"{level}\", {level}); P(\"{option}\", {option});\n")
            }
            WriteMethod::ContextStore { .. } => {
                body += &format!(
                    "P(\"store.{0}\", offsetof(struct bpf_sock_ops, {0}));\n",
                    w.name
                )
            }
            WriteMethod::Helper { name, .. } => {
                let f = name.trim_start_matches("bpf_");
                body += &format!("P(\"{name}\", BPF_FUNC_{f});\n");
            }
        }
    }
    for r in cat.read_options.values() {
        body += &format!("P(\"{0}\", {0}); P(\"{1}\", {1});\n", r.level, r.option);
    }
    let Some(got) = run_c(&body) else {
        return skip("could not build or run the probe");
    };
    let mut checked = 0;
    for f in cat.readable.values().filter(|f| f.offset.is_some()) {
        assert_eq!(
            f.offset.map(i64::from),
            got.get(&format!("off.{}", f.name)).copied(),
            "offset of {}",
            f.name
        );
        assert_eq!(
            f.size.map(i64::from),
            got.get(&format!("size.{}", f.name)).copied(),
            "size of {}",
            f.name
        );
        checked += 2;
    }
    for w in cat.writable.values() {
        match &w.method {
            WriteMethod::Setsockopt {
                level,
                level_value,
                option,
                option_value,
            } => {
                assert_eq!(
                    Some(i64::from(*level_value)),
                    got.get(level).copied(),
                    "{level}"
                );
                assert_eq!(
                    Some(i64::from(*option_value)),
                    got.get(option).copied(),
                    "{option}"
                );
            }
            WriteMethod::ContextStore { offset } => {
                assert_eq!(
                    Some(i64::from(*offset)),
                    got.get(&format!("store.{}", w.name)).copied(),
                    "store offset of {}",
                    w.name
                );
            }
            WriteMethod::Helper { name, id } => assert_eq!(
                Some(i64::from(*id)),
                got.get(name).copied(),
                "helper id of {name}"
            ),
        }
        checked += 1;
    }
    for r in cat.read_options.values() {
        assert_eq!(
            Some(i64::from(r.level_value)),
            got.get(&r.level).copied(),
            "{}",
            r.level
        );
        assert_eq!(
            Some(i64::from(r.option_value)),
            got.get(&r.option).copied(),
            "{}",
            r.option
        );
        checked += 1;
    }
    assert!(checked >= 105, "only {checked} values checked");
}

fn enum_variants(cat: &HookCatalog, field: &str) -> Vec<(String, u64)> {
    match &cat.readable[field].ty {
        ValueType::Enum { variants } => variants.clone(),
        other => panic!("{field} is {other:?}, not an enum"),
    }
}

#[test]
fn enum_values_match_the_headers_and_the_running_kernel() {
    let cat = catalog();
    let header = std::fs::read_to_string("/usr/include/linux/bpf.h").unwrap_or_default();
    let mut body = String::new();
    let mut in_header = Vec::new();
    for field in ["op", "state", "family"] {
        for (name, value) in enum_variants(&cat, field) {
            if field == "family"
                || header.contains(&format!("\t{name},"))
                || header.contains(&format!("\t{name} ="))
            {
                body += &format!("P(\"{name}\", {name});\n");
                in_header.push((name, value));
            }
        }
    }
    match run_c(&body) {
        Some(got) if !header.is_empty() => {
            for (name, value) in &in_header {
                assert_eq!(
                    got.get(name).copied(),
                    Some(*value as i64),
                    "{name} in the headers"
                );
            }
            assert!(
                in_header.len() >= 16 + 12 + 2,
                "only {} names found in the headers",
                in_header.len()
            );
        }
        _ => skip("needs a C compiler and /usr/include/linux/bpf.h"),
    }
    // The running kernel's BTF has the newer ops (TSTAMP_*) too.
    let btf = Command::new("bpftool")
        .args([
            "btf",
            "dump",
            "file",
            "/sys/kernel/btf/vmlinux",
            "format",
            "c",
        ])
        .output();
    let Ok(btf) = btf.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()) else {
        return skip("bpftool or /sys/kernel/btf/vmlinux missing");
    };
    if btf.is_empty() {
        return skip("bpftool printed no BTF");
    }
    for field in ["op", "state"] {
        for (name, value) in enum_variants(&cat, field) {
            let line = format!("\t{name} = {value},");
            assert!(
                btf.contains(&line),
                "{name} = {value} is not in the running kernel's BTF"
            );
        }
    }
}
