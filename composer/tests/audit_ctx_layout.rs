//! The audit's `struct bpf_sock_ops` table (names for context offsets the
//! catalog does not list) matches the installed kernel headers: every
//! entry is checked with `_Static_assert` by clang.

#[path = "audit/common.rs"]
mod common;

use std::fmt::Write as _;
use std::process::Command;

use composer::audit::ctx::SOCK_OPS_FIELDS;

/// Members the running 6.18 kernel has that the distribution's uapi
/// headers (6.1) may lack.
const NEWER_THAN_SOME_HEADERS: &[&str] = &["skb_hwtstamp"];

#[test]
fn the_sock_ops_table_matches_linux_bpf_h() {
    let Some(clang) = common::clang() else {
        return;
    };
    let mut c = String::from("#include <linux/bpf.h>\n#include <stddef.h>\n");
    for (name, off, size) in SOCK_OPS_FIELDS {
        if NEWER_THAN_SOME_HEADERS.contains(name) {
            // Older headers end right where the newer member starts.
            let _ = writeln!(
                c,
                "_Static_assert(sizeof(struct bpf_sock_ops) == {off} || sizeof(struct bpf_sock_ops) >= {off} + {size}, \"{name} follows the older end\");"
            );
            continue;
        }
        // `reply` shares its offset with args[0] and replylong[0].
        let _ = writeln!(
            c,
            "_Static_assert(offsetof(struct bpf_sock_ops, {name}) == {off}, \"{name} offset\");\n\
             _Static_assert(sizeof(((struct bpf_sock_ops *)0)->{name}) == {size}, \"{name} size\");"
        );
    }
    let dir = common::TempDir::new("ctx-layout");
    let src = dir.0.join("layout.c");
    std::fs::write(&src, c).expect("write the layout check");
    let mut cmd = Command::new(clang);
    cmd.args(["-fsyntax-only", "-target", "bpf"]);
    let multiarch = std::path::Path::new("/usr/include/x86_64-linux-gnu");
    if multiarch.join("asm").is_dir() {
        cmd.arg("-idirafter").arg(multiarch);
    }
    let out = cmd.arg(&src).output().expect("run clang");
    assert!(
        out.status.success(),
        "the table disagrees with linux/bpf.h:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
