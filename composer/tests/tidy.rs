//! Repository tidy checks, run as ordinary tests: file sizes, no ignored
//! tests, module docs on every crate root.

use std::path::{Path, PathBuf};

const MAX_LINES: usize = 800;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("composer sits one level below the repository root")
        .to_path_buf()
}

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() {
            if name.starts_with('.') || name.starts_with("target") || name == "snapshots" {
                continue;
            }
            source_files(&path, out);
        } else if ["rs", "c", "h"]
            .iter()
            .any(|ext| path.extension().is_some_and(|e| e == *ext))
        {
            out.push(path);
        }
    }
}

#[test]
fn source_files_stay_under_the_size_limit() {
    let mut files = Vec::new();
    source_files(&repo_root(), &mut files);
    assert!(
        !files.is_empty(),
        "found no source files under {:?}",
        repo_root()
    );
    let too_big: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(f).ok()?.lines().count();
            (n > MAX_LINES).then(|| format!("{} ({n} lines)", f.display()))
        })
        .collect();
    assert!(
        too_big.is_empty(),
        "files over {MAX_LINES} lines; split them along their seams: {too_big:?}"
    );
}

#[test]
fn no_test_is_ignored() {
    let mut files = Vec::new();
    source_files(&repo_root(), &mut files);
    let marker = ["#[", "ignore]"].concat();
    let ignored: Vec<String> = files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "rs"))
        .filter(|f| {
            std::fs::read_to_string(f)
                .map(|s| s.contains(&marker))
                .unwrap_or(false)
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        ignored.is_empty(),
        "ignored tests hide failures; skip loudly at run time instead: {ignored:?}"
    );
}

#[test]
fn every_crate_root_has_module_docs() {
    for krate in ["composer", "dispatcher", "runtime", "verifier-tests"] {
        let lib = repo_root().join(krate).join("src/lib.rs");
        let text = std::fs::read_to_string(&lib).unwrap_or_default();
        assert!(
            text.trim_start().starts_with("//!"),
            "{} must start with `//!` docs saying what the crate is for",
            lib.display()
        );
    }
}
