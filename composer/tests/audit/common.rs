//! Shared by the audit tests: compile small C programs with clang-19 into a
//! temporary directory, load the hook catalog, build specs in code.

#![allow(dead_code, reason = "each test binary uses a different part of it")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use composer::ir::{Guard, HookCatalog, Program, Update, Write, WriteValue};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("composer sits one level below the repository root")
        .to_path_buf()
}

/// clang for the BPF target, or None after saying why the test is skipped
/// (a panic under CI=true: CI must have clang-19).
pub fn clang() -> Option<PathBuf> {
    for var in ["ACCORD_CLANG", "CLANG"] {
        if let Some(p) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            return Some(PathBuf::from(p));
        }
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    if let Some(p) = std::env::split_paths(&path)
        .map(|d| d.join("clang-19"))
        .find(|p| p.is_file())
    {
        return Some(p);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("clang-19 is not on PATH and CI=true: the audit tests need it (apt-get install clang-19)");
    }
    eprintln!("skipping test - clang-19 not found on PATH (apt-get install clang-19)");
    None
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "accord-audit-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create a temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Compiles `src` as runtime/build.rs does (`-O2 -g -target bpf`, the SDK
/// include path, the multiarch headers, paths mapped to the repository).
pub fn compile(clang: &Path, src: &Path, out_dir: &Path) -> Vec<u8> {
    let repo = repo_root();
    let name = src
        .file_name()
        .and_then(|f| f.to_str())
        .expect("utf-8 name");
    let obj = out_dir.join(name.replace(".bpf.c", ".bpf.o"));
    let mut cmd = Command::new(clang);
    cmd.args(["-O2", "-g", "-target", "bpf", "-Wall", "-Werror"])
        .arg(format!("-ffile-prefix-map={}=.", repo.display()))
        .arg(format!("-fdebug-prefix-map={}=.", repo.display()))
        .arg("-I")
        .arg(repo.join("ebpf/include"));
    let multiarch = Path::new("/usr/include/x86_64-linux-gnu");
    if multiarch.join("asm").is_dir() {
        cmd.arg("-idirafter").arg(multiarch);
    }
    // From the repository root, so that BTF line info can read the mapped
    // `./...` paths and record each line's text.
    let out = cmd
        .current_dir(&repo)
        .arg("-c")
        .arg(src)
        .arg("-o")
        .arg(&obj)
        .output()
        .expect("run clang");
    assert!(
        out.status.success(),
        "clang failed on {}:\n{}",
        src.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(&obj).expect("read the object clang wrote")
}

pub fn catalog() -> HookCatalog {
    composer::load::load_catalog(&repo_root().join("specs/hooks/sock_ops.yaml"))
        .expect("the sock_ops catalog loads")
}

/// The SDK parser's reads (ACCORD_SOCK_OPS_PARSER_READS in accord.h), with
/// the 128-bit fields as the catalog splits them (four u32 words).
pub const PARSER_READS: &[&str] = &[
    "op",
    "family",
    "remote_ip4",
    "local_ip4",
    "remote_ip6[0]",
    "remote_ip6[1]",
    "remote_ip6[2]",
    "remote_ip6[3]",
    "local_ip6[0]",
    "local_ip6[1]",
    "local_ip6[2]",
    "local_ip6[3]",
    "remote_port",
    "local_port",
];

/// A spec's program, built in code: `writes` fields with any value, no guard.
pub fn program(name: &str, reads: &[&str], writes: &[&str]) -> Program {
    Program {
        name: name.into(),
        hook: "sock_ops".into(),
        object: None,
        reads: reads.iter().map(|s| s.to_string()).collect(),
        writes: writes
            .iter()
            .map(|f| Write {
                field: f.to_string(),
                update: Update::Set,
                value: WriteValue::Range {
                    min: 0,
                    max: u64::from(u32::MAX),
                },
                guard: Guard::True,
                guard_text: String::new(),
                span: None,
            })
            .collect(),
        span: None,
        ends_chain: false,
    }
}

/// A spec's program whose writes have the given values.
pub fn program_with_values(name: &str, reads: &[&str], writes: &[(&str, WriteValue)]) -> Program {
    let mut p = program(name, reads, &[]);
    p.writes = writes
        .iter()
        .map(|(f, v)| Write {
            field: f.to_string(),
            update: Update::Set,
            value: v.clone(),
            guard: Guard::True,
            guard_text: String::new(),
            span: None,
        })
        .collect();
    p
}

/// The 1-based line of the only line in `src` containing `marker`.
pub fn marker_line(src: &Path, marker: &str) -> u32 {
    let text = std::fs::read_to_string(src).expect("read the test source");
    let lines: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(marker))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "{marker} must mark exactly one line of {}",
        src.display()
    );
    lines[0] as u32
}
