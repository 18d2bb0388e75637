//! Hostile input to the loaders: nesting that would exhaust the stack,
//! bytes that are not UTF-8, files that are not YAML at all (whose lines
//! must never be echoed into errors), and files that are not regular files.
//! Each is an input error with file:line:column; none may abort the process.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use composer::load::{load, LoadErrorKind, LoadErrors, LoadOptions, Loaded};
use composer::report::load_errors_human;

static NEXT: AtomicUsize = AtomicUsize::new(0);

fn catalog_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs/hooks/sock_ops.yaml")
}

/// A fresh directory holding `files` (bytes, so invalid UTF-8 can be written).
fn fixture(files: &[(&str, &[u8])]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "accord-hostile-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create fixture dir");
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).expect("write fixture");
    }
    dir
}

fn load_dir(dir: &Path) -> Result<Loaded, LoadErrors> {
    let opts = LoadOptions {
        specs_dir: None,
        catalog: Some(catalog_path()),
    };
    load(&dir.join("composition.yaml"), &opts)
}

const COMPOSITION: &[u8] = b"composition: c\nhook: sock_ops\nfeatures:\n  - spec: spec.yaml\n";

/// A valid spec whose guard is `guard` (on line 9, at column 15).
fn spec_with_guard(guard: &str) -> Vec<u8> {
    format!(
        "feature: f\n\
         config:\n  iw: {{ type: u32, default: 40 }}\n\
         programs:\n  - name: f\n    hook: sock_ops\n    reads: [op]\n    writes:\n\
         \x20     - {{ field: TCP_BPF_IW, value: $iw, when: \"{guard}\" }}\n"
    )
    .into_bytes()
}

fn only_error(dir: &Path) -> composer::load::LoadError {
    let errs = load_dir(dir).expect_err("refused").errors;
    assert_eq!(errs.len(), 1, "one error: {errs:#?}");
    errs.into_iter().next().unwrap()
}

#[test]
fn a_guard_nested_6000_deep_is_an_input_error_not_a_stack_overflow() {
    let deep = format!("{}op == 1{}", "(".repeat(6000), ")".repeat(6000));
    let dir = fixture(&[
        ("composition.yaml", COMPOSITION),
        ("spec.yaml", &spec_with_guard(&deep)),
    ]);
    let e = only_error(&dir);
    let LoadErrorKind::Guard { offset, error, .. } = &e.kind else {
        panic!("a guard error: {e}")
    };
    assert_eq!(error.to_string(), "nested deeper than 256 levels");
    // The 257th `(` is where it stops.
    assert_eq!(*offset, 256);
    assert_eq!(e.location.line, Some(9));
    // Column 49 is the guard's first character (after `when: "`).
    assert_eq!(e.location.column, Some(49 + 256));
}

#[test]
fn the_guard_depth_limit_is_256_for_parentheses_and_negations() {
    let ok = format!("{}op == 1{}", "(".repeat(256), ")".repeat(256));
    let dir = fixture(&[
        ("composition.yaml", COMPOSITION),
        ("spec.yaml", &spec_with_guard(&ok)),
    ]);
    load_dir(&dir).expect("256 levels are accepted");
    for deep in [
        format!("{}op == 1{}", "(".repeat(257), ")".repeat(257)),
        format!("{}op == 1", "!".repeat(257)),
        format!("{}op == 1{}", "!(".repeat(200), ")".repeat(200)),
    ] {
        let dir = fixture(&[
            ("composition.yaml", COMPOSITION),
            ("spec.yaml", &spec_with_guard(&deep)),
        ]);
        let e = only_error(&dir);
        assert!(
            e.to_string().contains("nested deeper than 256 levels"),
            "{e}"
        );
    }
}

/// A spec whose `description:` holds a block mapping nested `depth` deep
/// (indentation only: no flow brackets, which the YAML scanner caps itself).
fn deeply_nested_spec(depth: usize) -> Vec<u8> {
    let mut s = String::from("feature: f\ndescription:\n");
    for i in 1..depth {
        s.push_str(&" ".repeat(i));
        s.push_str("a:\n");
    }
    s.push_str(&" ".repeat(depth));
    s.push_str("b: 1\nprograms:\n  - name: f\n    hook: sock_ops\n    reads: [op]\n");
    s.into_bytes()
}

#[test]
fn yaml_nested_3000_deep_is_an_input_error_not_a_stack_overflow() {
    let dir = fixture(&[
        ("composition.yaml", COMPOSITION),
        ("spec.yaml", &deeply_nested_spec(3000)),
    ]);
    let e = only_error(&dir);
    assert_eq!(e.kind, LoadErrorKind::TooDeep { limit: 256 }, "{e}");
    assert_eq!(e.location.file, dir.join("spec.yaml"));
    // `description:`'s value, the mapping on line 3, is level 2; the one
    // that opens level 257 is on line 258, its key after 256 spaces.
    assert_eq!(e.location.line, Some(258));
    assert_eq!(e.location.column, Some(257));
    // And a nesting of block sequences written on one line (`- - - ...`).
    let dir = fixture(&[
        ("composition.yaml", COMPOSITION),
        (
            "spec.yaml",
            format!("feature: f\nx:\n  {}y\n", "- ".repeat(100_000)).as_bytes(),
        ),
    ]);
    let errs = load_dir(&dir).expect_err("refused").errors;
    assert!(
        errs.iter()
            .any(|e| e.kind == LoadErrorKind::TooDeep { limit: 256 }),
        "{errs:#?}"
    );
}

#[test]
fn yaml_nested_within_the_limit_loads() {
    // 200 levels is legal YAML and within the limit (here in the free-form
    // `description:`, which the loader does not interpret).
    let dir = fixture(&[
        ("composition.yaml", COMPOSITION),
        ("spec.yaml", &deeply_nested_spec(200)),
    ]);
    load_dir(&dir).expect("200 levels load");
}

#[test]
fn invalid_utf8_is_an_input_error_at_the_line_and_column_of_the_byte() {
    let mut spec = spec_with_guard("op == 1");
    // Line 1 is `feature: f`; put a stray byte after `featur`.
    spec.splice(6..6, [0xff]);
    let dir = fixture(&[("composition.yaml", COMPOSITION), ("spec.yaml", &spec)]);
    let e = only_error(&dir);
    assert_eq!(e.kind, LoadErrorKind::NotUtf8 { byte: 0xff });
    assert_eq!(e.location.file, dir.join("spec.yaml"));
    assert_eq!((e.location.line, e.location.column), (Some(1), Some(7)));

    // Multi-byte characters before it count as one column each; a
    // truncated sequence at the end of the file is found too.
    let mut comp = "composition: c # é ü\nhook: sock_ops\nfeatures: [] # ☃"
        .as_bytes()
        .to_vec();
    comp.extend_from_slice(b"\xe2\x98");
    let dir = fixture(&[("composition.yaml", &comp)]);
    let e = only_error(&dir);
    assert_eq!(e.kind, LoadErrorKind::NotUtf8 { byte: 0xe2 });
    assert_eq!((e.location.line, e.location.column), (Some(3), Some(17)));
    assert!(e.to_string().starts_with(&format!(
        "{}:3:17: invalid UTF-8",
        dir.join("composition.yaml").display()
    )));
}

#[test]
fn a_file_that_is_not_a_spec_is_never_echoed_into_errors() {
    let shadow = b"root:*:20228:0:99999:7:::\ndaemon:*:20228:0:99999:7:::\n\
                   secretuser:$y$j9T$c2VjcmV0$aGFzaGhhc2hoYXNo:20228:0:99999:7:::\n";
    let passwd = b"root:x:0:0:root:/root:/bin/bash\nsecretuser:x:1000:1000::/home/s:/bin/sh\n";
    let comp = b"composition: c\nhook: sock_ops\nfeatures:\n  - spec: shadow\n  - spec: passwd\n";
    let dir = fixture(&[
        ("composition.yaml", comp),
        ("shadow", shadow),
        ("passwd", passwd),
    ]);
    let errs = load_dir(&dir).expect_err("refused");
    let human = load_errors_human(&errs);
    let json = serde_json::to_string(&errs).unwrap();
    for out in [&human, &json] {
        assert!(!out.contains("secretuser"), "{out}");
        assert!(!out.contains("root:"), "{out}");
        assert!(!out.contains("99999"), "{out}");
    }
    assert_eq!(errs.errors.len(), 2, "{human}");
    assert!(
        human.contains("shadow:1:1: error: not a feature spec: none of its top-level keys"),
        "{human}"
    );
}

#[test]
fn a_spec_that_is_not_a_regular_file_is_refused_without_reading_it() {
    let comp = b"composition: c\nhook: sock_ops\nfeatures:\n  - spec: /dev/zero\n  - spec: fifo\n  - spec: /\n";
    let dir = fixture(&[("composition.yaml", comp)]);
    let made = std::process::Command::new("mkfifo")
        .arg(dir.join("fifo"))
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let errs = load_dir(&dir).expect_err("refused").errors;
    assert_eq!(errs.len(), 3, "{errs:#?}");
    for e in &errs {
        assert!(e.to_string().contains("not a regular file"), "{e}");
        assert_eq!(e.location.file, dir.join("composition.yaml"));
    }
}

#[test]
fn a_spec_larger_than_the_size_limit_is_refused() {
    let mut big = b"feature: f\n".to_vec();
    big.resize(17 * 1024 * 1024, b'#');
    let dir = fixture(&[("composition.yaml", COMPOSITION), ("spec.yaml", &big)]);
    let e = only_error(&dir);
    assert!(e.to_string().contains("larger than 16 MiB"), "{e}");
}
