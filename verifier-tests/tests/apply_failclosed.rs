//! What runs is what was proven, through the real `accord` binary on the
//! running kernel: `apply` and `plan` refuse a spec whose object is missing
//! (no built-in object stands in for it), an object without the program
//! the spec names (or with programs no spec names), and an object that
//! does more than its spec declares (the host-side audit); each time the
//! live chain stays exactly as it was.

mod daemon_common;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use daemon_common::*;
use verifier_tests::{getsockopt_u32, require_root_or_skip, tcp_info, TcpConn, TestCgroup};

const PEER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// Not a test of its own: the daemon child process (see daemon_common).
#[test]
fn daemon_child() {
    child_main();
}

/// A cgroup running init_cwnd (iw 40 for 127.0.0.2), applied by the CLI.
struct Live {
    env: Env,
    cg: TestCgroup,
    accord: PathBuf,
    /// The record and the program the link runs, as first applied.
    record: String,
    link_prog: u32,
}

impl Live {
    fn new(tag: &str) -> Option<Live> {
        if !require_root_or_skip(tag) {
            return None;
        }
        let accord = verifier_tests::accord_bin_or_skip(tag)?;
        let env = Env::new(tag);
        let cg = TestCgroup::create(tag).unwrap();
        let good = env.composition(
            "good.yaml",
            &[("init_cwnd", "{ iw: 40, prefixes: [127.0.0.2/32] }")],
        );
        let mut live = Live {
            env,
            cg,
            accord,
            record: String::new(),
            link_prog: 0,
        };
        let (code, out, err) = live.run("apply", &good);
        assert_eq!(code, Some(0), "{out}{err}");
        live.record = live.record_text();
        live.link_prog = live.link_prog();
        assert_eq!(live.cwnd_of_new(), 40);
        Some(live)
    }

    /// `accord <cmd> COMPOSITION --cgroup <cg>` with the repository's catalog.
    fn run(&self, cmd: &str, composition: &Path) -> (Option<i32>, String, String) {
        self.run_on(cmd, composition, self.cg.path())
    }

    fn run_on(
        &self,
        cmd: &str,
        composition: &Path,
        cgroup: &Path,
    ) -> (Option<i32>, String, String) {
        self.run_with(cmd, composition, cgroup, &[])
    }

    fn run_with(
        &self,
        cmd: &str,
        composition: &Path,
        cgroup: &Path,
        extra: &[&str],
    ) -> (Option<i32>, String, String) {
        let c = composition.display().to_string();
        let cg = cgroup.display().to_string();
        let specs = repo().join("specs").display().to_string();
        let mut args = vec![cmd, &c, "--cgroup", &cg, "--specs", &specs];
        args.extend_from_slice(extra);
        self.env.accord(&self.accord, &args)
    }

    /// The spec of `ebpf/testing/mark_outside_guard.bpf.c` (its object
    /// written beside it): SO_MARK = 7 and SO_PRIORITY = 5 declared only at
    /// PASSIVE_ESTABLISHED_CB on local port 9, which the object exceeds.
    fn mark_spec(&self) -> PathBuf {
        let object = self.object_file("mark_outside_guard", "mark_outside_guard.bpf.o");
        let text = format!(
            "feature: mark_outside_guard\nprograms:\n  - name: mark_outside_guard\n    hook: sock_ops\n    object: {}\n    reads: [op, family, remote_ip4, local_ip4, remote_ip6, local_ip6, remote_port, local_port]\n    writes:\n      - field: SO_MARK\n        value: 7\n        when: op == PASSIVE_ESTABLISHED_CB && local_port == 9\n      - field: SO_PRIORITY\n        value: 5\n        when: op == PASSIVE_ESTABLISHED_CB && local_port == 9\n",
            object.display()
        );
        let path = self.env.dir.join("mark_outside_guard.yaml");
        std::fs::write(&path, text).unwrap();
        path
    }

    fn record_text(&self) -> String {
        let records = self.env.status_of_records();
        assert_eq!(records.len(), 1);
        std::fs::read_to_string(self.env.layout.record_path(&records[0].key)).unwrap()
    }

    fn link_prog(&self) -> u32 {
        use runtime::adapter::BpfAdapter;
        let key = &self.env.status_of_records()[0].key;
        runtime::adapter::real::RealAdapter::default()
            .link_prog_id(&self.env.layout.link_pin(key))
            .unwrap()
            .expect("a link")
    }

    fn cwnd_of_new(&self) -> u32 {
        let conn = TcpConn::connect_from(&self.cg, PEER).unwrap();
        tcp_info(&conn.client).unwrap().tcpi_snd_cwnd
    }

    /// The refused command changed nothing: same record, same program on
    /// the link, new connections still tuned by it.
    fn assert_untouched(&self, what: &str) {
        assert_eq!(
            self.record_text(),
            self.record,
            "{what}: the record changed"
        );
        assert_eq!(self.link_prog(), self.link_prog, "{what}: the link changed");
        assert_eq!(
            self.cwnd_of_new(),
            40,
            "{what}: the live chain stopped working"
        );
    }

    /// A spec file `<name>.yaml` in the work directory: init_cwnd's
    /// declarations under feature/program `name`, with `object` as written.
    fn spec(&self, name: &str, object: &str) -> PathBuf {
        let text: String = std::fs::read_to_string(repo().join("specs/features/init_cwnd.yaml"))
            .unwrap()
            .replace("feature: init_cwnd", &format!("feature: {name}"))
            .replace("  - name: init_cwnd", &format!("  - name: {name}"))
            .lines()
            .map(|l| match l.starts_with("    object:") {
                true => format!("    object: {object}\n"),
                false => format!("{l}\n"),
            })
            .collect();
        let path = self.env.dir.join(format!("{name}.yaml"));
        std::fs::write(&path, text).unwrap();
        path
    }

    /// A composition of the spec files `specs`; those with a `prefixes`
    /// param get the peer's address only.
    fn composition_of(&self, file: &str, specs: &[&Path]) -> PathBuf {
        let name = file.trim_end_matches(".yaml");
        let mut text = format!("composition: {name}\nhook: sock_ops\nfeatures:\n");
        for s in specs {
            text.push_str(&format!("  - spec: {}\n", s.display()));
            if std::fs::read_to_string(s).unwrap().contains("  prefixes:") {
                text.push_str("    config: { prefixes: [127.0.0.2/32] }\n");
            }
        }
        let path = self.env.dir.join(file);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Writes a built-in (or testing) object's bytes to a file in the work
    /// directory.
    fn object_file(&self, name: &str, file: &str) -> PathBuf {
        let bytes = runtime::objects::feature_object(name)
            .or_else(|| runtime::objects::testing_object(name))
            .unwrap_or_else(|| panic!("no object {name} built in"));
        let path = self.env.dir.join(file);
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

#[test]
fn a_missing_object_is_an_input_error_not_the_builtin_of_that_name() {
    let Some(live) = Live::new("fcmissing") else {
        return;
    };
    // `object: init_cwnd.bpf.o` beside the spec, where there is no such file:
    // before, the built-in init_cwnd was loaded in its place.
    let spec = live.spec("init_cwnd", "init_cwnd.bpf.o");
    let comp = live.composition_of("missing.yaml", &[&spec]);
    for cmd in ["plan", "apply"] {
        let (code, out, err) = live.run(cmd, &comp);
        assert_eq!(code, Some(2), "{cmd}: {out}{err}");
        let at = format!("{}:11:5: error: member init_cwnd: object", spec.display());
        assert!(err.contains(&at), "{cmd}: {err}");
        assert!(err.contains("init_cwnd.bpf.o does not exist"), "{err}");
        assert!(err.contains("builtin:<name>"), "{err}");
        live.assert_untouched(cmd);
    }
    // Asked for explicitly, the built-in object is used, and plan and status
    // say so.
    let spec = live.spec("init_cwnd", "builtin:init_cwnd");
    let comp = live.composition_of("builtin.yaml", &[&spec]);
    let fresh = TestCgroup::create("fcmissing2").unwrap();
    let (code, out, err) = live.run_on("plan", &comp, fresh.path());
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("load member init_cwnd from init_cwnd.bpf.o (builtin:init_cwnd, "),
        "{out}"
    );
    let (code, out, err) = live.env.accord(&live.accord, &["status"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("objects: 0 builtin:init_cwnd"), "{out}");
}

#[test]
fn an_object_without_the_named_program_or_with_extra_ones_is_refused() {
    let Some(live) = Live::new("fcprogram") else {
        return;
    };
    // sndbuf's object under a spec that names program init_cwnd: before, its
    // one program was loaded whatever its name.
    let object = live.object_file("sndbuf", "not_init_cwnd.bpf.o");
    let spec = live.spec("init_cwnd", &object.display().to_string());
    let comp = live.composition_of("wrong.yaml", &[&spec]);
    for cmd in ["plan", "apply"] {
        let (code, out, err) = live.run(cmd, &comp);
        assert_eq!(code, Some(2), "{cmd}: {out}{err}");
        assert!(
            err.contains("has no program `init_cwnd` (it has: sndbuf)"),
            "{cmd}: {err}"
        );
        assert!(
            err.contains(&format!("{}:11:5: error", spec.display())),
            "{err}"
        );
        live.assert_untouched(cmd);
    }
    // An object holding a second program no spec declares.
    let object = live.object_file("stowaway", "stowaway.bpf.o");
    let spec = std::fs::read_to_string(live.spec("stowaway", "x"))
        .unwrap()
        .replace("object: x", &format!("object: {}", object.display()))
        .replace("        value: $iw\n", "        value: 40\n");
    let spec_path = live.env.dir.join("stowaway.yaml");
    std::fs::write(&spec_path, spec).unwrap();
    let comp = live.composition_of("extra.yaml", &[&spec_path]);
    let (code, out, err) = live.run("apply", &comp);
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(
        err.contains(
            "also holds program(s) stowaway_extra that no program of its feature declares"
        ),
        "{err}"
    );
    live.assert_untouched("extra program");
    let conn = TcpConn::connect_from(&live.cg, PEER).unwrap();
    assert_eq!(
        getsockopt_u32(&conn.client, libc::SOL_SOCKET, libc::SO_MARK).unwrap(),
        0,
        "the stowaway's mark"
    );
}

/// (SO_MARK, SO_PRIORITY) of a new client socket of the cgroup.
fn mark_and_priority(cg: &TestCgroup) -> (u32, u32) {
    let conn = TcpConn::connect_from(cg, PEER).unwrap();
    (
        getsockopt_u32(&conn.client, libc::SOL_SOCKET, libc::SO_MARK).unwrap(),
        getsockopt_u32(&conn.client, libc::SOL_SOCKET, libc::SO_PRIORITY).unwrap(),
    )
}

#[test]
fn apply_and_plan_refuse_an_object_that_does_more_than_its_spec() {
    let Some(live) = Live::new("fcaudit") else {
        return;
    };
    let init_cwnd = repo().join("specs/features/init_cwnd.yaml");
    let comp = live.composition_of("marked.yaml", &[&init_cwnd, &live.mark_spec()]);
    // `accord check` alone passes: the declared effects do not conflict.
    let c = comp.display().to_string();
    let specs = repo().join("specs").display().to_string();
    let (code, out, err) = live
        .env
        .accord(&live.accord, &["check", &c, "--specs", &specs]);
    assert_eq!(code, Some(0), "{out}{err}");
    for cmd in ["plan", "apply"] {
        let (code, out, err) = live.run(cmd, &comp);
        assert_eq!(code, Some(1), "{cmd}: {out}{err}");
        // The report `accord audit` prints, then the refusal.
        for needle in [
            "audit mark_outside_guard (",
            "error: writes SO_MARK when op is BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB, where the spec's `when:` cannot hold",
            "error: writes SO_PRIORITY when op is BPF_SOCK_OPS_TCP_CONNECT_CB",
            "result: 2 errors, 0 warnings: the object does more than the spec says",
            "accord: refusing to load: a member's object does more than its spec declares",
        ] {
            assert!(out.contains(needle), "{cmd}: {needle:?} not in:\n{out}");
        }
        live.assert_untouched(cmd);
        assert_eq!(mark_and_priority(&live.cg), (0, 0), "{cmd}: no mark");
    }

    // The development escape hatch loads it, loudly and on the record, and
    // a connection then carries the undeclared mark and priority.
    let skip = ["--skip-audit"];
    let (code, out, err) = live.run_with("apply", &comp, live.cg.path(), &skip);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(err.contains("WARNING: --skip-audit"), "{err}");
    assert_eq!(mark_and_priority(&live.cg), (7, 5));
    let (code, out, _) = live.env.accord(&live.accord, &["status"]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("audit: SKIPPED (accord apply --skip-audit)"),
        "{out}"
    );
    let (_, json, _) = live
        .env
        .accord(&live.accord, &["status", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["hookpoints"][0]["audit"]["verdict"], "skipped", "{json}");

    // Back to an audited chain: the record says so again, and an unchanged
    // object is not audited twice (its clean verdict is cached).
    let comp = live.composition_of("good2.yaml", &[&init_cwnd]);
    let (code, out, err) = live.run("apply", &comp);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("audit: 0 member object(s) audited, 1 clean verdict(s) cached"),
        "{out}"
    );
    assert_eq!(mark_and_priority(&live.cg), (0, 0));
    let (_, out, _) = live.env.accord(&live.accord, &["status"]);
    assert!(
        out.contains("audit: every member object audited clean against its spec"),
        "{out}"
    );
}

#[test]
fn the_daemon_refuses_a_policy_whose_object_does_more_than_its_spec() {
    let Some(live) = Live::new("fcdaemon") else {
        return;
    };
    let _serial = serial();
    let mut env = Env::new("fcdaemond");
    let cg = TestCgroup::create("fcdaemond").unwrap();
    let target = |composition: &Path| {
        format!(
            "  - cgroup: {}\n    composition: {}\n",
            cg.path().display(),
            composition.display()
        )
    };
    let init_cwnd = repo().join("specs/features/init_cwnd.yaml");
    let good = live.composition_of("dgood.yaml", &[&init_cwnd]);
    let marked = live.composition_of("dmarked.yaml", &[&init_cwnd, &live.mark_spec()]);
    let limit = std::time::Duration::from_secs(20);

    // Refused at start: exit 1, nothing attached.
    env.write_policy(&target(&marked));
    let mut d = env.start();
    assert_eq!(d.wait_exit(limit), Some(1), "{}", d.log_text());
    assert!(
        d.log_text().contains("writes SO_MARK when op is"),
        "{}",
        d.log_text()
    );
    assert!(env.status_of_records().is_empty());

    // Refused on an edit: the running chain stays as it was.
    env.write_policy(&target(&good));
    let mut d = env.start_ready();
    let before = d.status()["hookpoints"].clone();
    assert_eq!(before[0]["audit"]["verdict"], "clean", "{before}");
    env.write_policy(&target(&marked));
    let refused = holds_within(std::time::Duration::from_secs(5), || {
        d.status()["last_refusal"]
            .as_str()
            .is_some_and(|r| r.contains("does more than its spec declares"))
    });
    assert!(refused, "{}", d.log_text());
    let after = d.status()["hookpoints"].clone();
    assert_eq!(after[0]["generation"], before[0]["generation"]);
    assert_eq!(
        after[0]["members"][0]["prog_id"],
        before[0]["members"][0]["prog_id"]
    );
    assert_eq!(mark_and_priority(&cg), (0, 0));
    let conn = TcpConn::connect_from(&cg, PEER).unwrap();
    assert_eq!(tcp_info(&conn.client).unwrap().tcpi_snd_cwnd, 40);
    d.stop();
}
