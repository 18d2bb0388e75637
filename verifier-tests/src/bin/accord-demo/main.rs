//! `accord-demo`: accord's main job, end to end, on this host's loopback.
//!
//! Checks the demo composition with `accord check`, applies it to a fresh
//! cgroup with `accord apply`, opens real TCP connections from inside that
//! cgroup (and from a sibling cgroup without accord), and prints per
//! connection what the composer predicts for it next to what the kernel
//! shows; then `accord status`, and `accord detach` + `accord gc`, which
//! also run when anything fails. Exit 0 when every measured effect agrees
//! with its prediction, 1 when one does not, 2 when the demo could not run.
//!
//! The `accord` commands are the real binary, run as subprocesses with
//! their pins and records in their own roots (`/sys/fs/bpf/accord-demo`,
//! `/run/accord-demo`), so the demo never touches a real deployment.
//! `scripts/demo` builds and runs it; `--cleanup` removes what a killed run
//! left behind.

mod effects;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};
use composer::check::CheckOptions;
use composer::ir::{Composition, MemberId};
use composer::load::{self, LoadOptions};
use effects::{End, Host, Measured, Predicted, Row};
use runtime::adapter::BpfAdapter;
use verifier_tests::{TcpConn, TestCgroup};

const BPFFS_ROOT: &str = "/sys/fs/bpf/accord-demo";
const STATE_DIR: &str = "/run/accord-demo";
/// Round trips before reading the RTO, so the estimator has settled.
const PING_PONGS: usize = 40;

struct Args {
    accord: PathBuf,
    composition: PathBuf,
    cleanup_only: bool,
}

fn parse_args() -> Result<Args> {
    let exe = std::env::current_exe().context("finding this executable")?;
    let mut args = Args {
        accord: exe.with_file_name("accord"),
        composition: PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../examples/demo/loopback.yaml"),
        cleanup_only: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--accord" => args.accord = it.next().context("--accord needs a path")?.into(),
            "--cleanup" => args.cleanup_only = true,
            "-h" | "--help" => {
                println!(
                    "usage: accord-demo [--accord PATH] [COMPOSITION]\n       accord-demo --cleanup\n\n\
                     Applies COMPOSITION (default: examples/demo/loopback.yaml) to a demo\n\
                     cgroup, measures real loopback connections against the composer's\n\
                     predictions, and cleans up. Needs root."
                );
                std::process::exit(0);
            }
            s if s.starts_with('-') => bail!("unknown option {s} (see --help)"),
            s => args.composition = s.into(),
        }
    }
    Ok(args)
}

/// The `accord` binary, run with the demo's own roots.
struct Accord {
    bin: PathBuf,
}

impl Accord {
    /// Runs `accord ARGS`, printing the command and its output indented.
    fn run(&self, args: &[&str]) -> Result<bool> {
        println!("  $ accord {}", args.join(" "));
        let out = Command::new(&self.bin)
            .args(args)
            .env("ACCORD_BPFFS_ROOT", BPFFS_ROOT)
            .env("ACCORD_STATE_DIR", STATE_DIR)
            .output()
            .with_context(|| format!("running {}", self.bin.display()))?;
        for line in String::from_utf8_lossy(&out.stdout)
            .lines()
            .chain(String::from_utf8_lossy(&out.stderr).lines())
        {
            println!("    {line}");
        }
        Ok(out.status.success())
    }
}

/// The chain on the demo cgroup: detached and collected on drop, also when
/// the demo fails half way.
struct Deployment<'a> {
    accord: &'a Accord,
    cgroup: String,
    live: bool,
}

impl Deployment<'_> {
    fn remove(&mut self) -> Result<bool> {
        self.live = false;
        let detached = self.accord.run(&["detach", "--cgroup", &self.cgroup])?;
        let collected = self.accord.run(&["gc"])?;
        remove_roots();
        Ok(detached && collected)
    }
}

impl Drop for Deployment<'_> {
    fn drop(&mut self) {
        if self.live {
            println!("cleaning up after a failure:");
            if let Err(e) = self.remove() {
                eprintln!("accord-demo: cleanup: {e:#}");
            }
        }
    }
}

/// Removes the demo's pins and records (after a killed run; a no-op
/// otherwise). Unpinning the link detaches the chain.
fn remove_roots() {
    for dir in [BPFFS_ROOT, STATE_DIR] {
        if Path::new(dir).exists() {
            if let Err(e) = std::fs::remove_dir_all(dir) {
                eprintln!("accord-demo: removing {dir}: {e}");
            }
        }
    }
}

fn heading(n: u32, text: &str) {
    println!("\n[{n}/5] {text}");
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("accord-demo: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<bool> {
    let args = parse_args()?;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("needs root: it loads eBPF programs and creates a cgroup (run `sudo scripts/demo`)");
    }
    // One demo (or bpf_dctcp test) at a time: the kernel knows one
    // `bpf_dctcp`. Holding the lock, anything in the demo roots is a
    // leftover of a killed run.
    let _one_at_a_time = verifier_tests::dctcp_lock().context("taking the demo lock")?;
    verifier_tests::remove_leftovers();
    remove_roots();
    if args.cleanup_only {
        println!("accord-demo: removed what earlier demo runs left behind");
        return Ok(true);
    }
    if !args.accord.is_file() {
        bail!(
            "no accord binary at {} (build it: cargo build --release)",
            args.accord.display()
        );
    }
    let accord = Accord { bin: args.accord };
    let composition = args.composition.to_string_lossy().into_owned();
    let loaded = load::load(&args.composition, &LoadOptions::default()).map_err(|e| {
        let report = composer::report::load_errors_human(&e);
        anyhow::anyhow!("{}", report.trim_end())
    })?;
    let comp = loaded.composition;
    let outcome = composer::check::check(&comp, &CheckOptions::default());

    println!(
        "accord demo: {} tuning features share one {} hook. accord proves they do not\n\
         contradict each other, runs them as one chain on a cgroup, and the kernel's\n\
         own view of real TCP connections is compared with what the composer predicted.",
        comp.features.len(),
        comp.hook
    );

    heading(
        1,
        "check: can these features share the hook, and in which order?",
    );
    if !accord.run(&["check", &composition])? {
        println!("the composition is not safe; nothing was loaded");
        return Ok(false);
    }
    let order = outcome
        .order
        .clone()
        .context("the composer found no order")?;

    let cgroup = TestCgroup::create("demo").context("creating the demo cgroup")?;
    let sibling = TestCgroup::create("demo-sibling").context("creating the sibling cgroup")?;
    // The kernel's own initial window, before any chain exists.
    let reference =
        TcpConn::within(&sibling, Ipv4Addr::LOCALHOST).context("a reference connection")?;
    let host = Host::read(&effects::measure_now(&reference.client)?)?;
    drop(reference);
    let cg_path = cgroup.path().to_string_lossy().into_owned();
    heading(
        2,
        "apply: load the chain in that order and attach it to a fresh cgroup",
    );
    println!("  demo cgroup:    {cg_path}");
    println!(
        "  sibling cgroup: {} (nothing attached: the kernel's defaults)",
        sibling.path().display()
    );
    let mut deployment = Deployment {
        accord: &accord,
        cgroup: cg_path.clone(),
        live: true,
    };
    if !accord.run(&["apply", &composition, "--cgroup", &cg_path])? {
        bail!("accord apply failed");
    }

    heading(
        3,
        "real TCP connections over loopback: predicted by the composer vs measured by the kernel",
    );
    println!(
        "  Both ends of each connection are sockets of one cgroup, so each end runs the\n  \
         chain at its own callbacks. \"predicted\" is the composer's evaluation of every\n  \
         member's `when:` guard on that connection (peer address and port, callback).\n  \
         Run-time statistics are on while the connections run."
    );
    let stats = runtime::adapter::real::RealAdapter::default()
        .enable_stats()
        .ok();
    let peers = [
        (Ipv4Addr::new(127, 0, 0, 2), &cgroup, true),
        (Ipv4Addr::new(127, 0, 0, 3), &cgroup, true),
        (Ipv4Addr::new(127, 0, 0, 1), &cgroup, true),
        (Ipv4Addr::new(127, 0, 0, 2), &sibling, false),
    ];
    let (mut agree, mut total) = (0, 0);
    for (ip, cg, chained) in peers {
        let rows = connection(&comp, &order, &host, ip, cg, chained)?;
        total += rows.len();
        agree += rows.iter().filter(|r| r.agrees).count();
    }
    drop(stats);

    heading(
        4,
        "status: the live chain, per-member events and writes counted in the kernel",
    );
    println!(
        "  (the demo kept BPF run-time statistics on while its connections ran, so the\n  \
         dispatcher's run count and time are filled in; `events` and `writes` are\n  \
         each member's own counters, always on)"
    );
    accord.run(&["status"])?;

    heading(
        5,
        "clean up: detach the chain, collect its pins, remove the cgroups",
    );
    let cleaned = deployment.remove()?;
    drop(deployment);
    drop((cgroup, sibling));
    let left = Path::new(&cg_path).exists() || Path::new(BPFFS_ROOT).exists();
    println!(
        "  {}",
        if cleaned && !left {
            "nothing left behind: no chain, no pins, no cgroups"
        } else {
            "cleanup incomplete (see above)"
        }
    );

    println!();
    if agree == total {
        println!("result: all {total} measured effects are what the composer predicted ✓");
    } else {
        println!(
            "result: {} of {total} measured effects differ from the prediction ✗",
            total - agree
        );
    }
    Ok(agree == total && cleaned && !left)
}

/// Opens one connection to `ip` with both ends in `cg`, measures both ends,
/// prints the table and returns its rows.
fn connection(
    comp: &Composition,
    order: &[MemberId],
    host: &Host,
    ip: Ipv4Addr,
    cg: &TestCgroup,
    chained: bool,
) -> Result<Vec<Row>> {
    let mut conn = TcpConn::within(cg, ip).with_context(|| format!("connecting to {ip}"))?;
    let (c_local, c_remote) = effects::addrs(&conn.client)?;
    let (s_local, s_remote) = effects::addrs(&conn.server)?;
    let mut client = effects::measure_now(&conn.client)?;
    let mut server = effects::measure_now(&conn.server)?;
    conn.ping_pong(PING_PONGS).context("round trips")?;
    client.rto_us = effects::measure_now(&conn.client)?.rto_us;
    server.rto_us = effects::measure_now(&conn.server)?.rto_us;

    let whence = if chained {
        format!("{} ({})", "demo cgroup", effects::describe(ip, comp))
    } else {
        "sibling cgroup without accord: no chain runs, nothing is predicted".to_string()
    };
    println!("\n  {c_local} -> {c_remote}, {whence}");
    let mut rows = Vec::new();
    for &effect in effects::EFFECTS {
        let (m, local, remote): (&Measured, _, _) = match effect.end {
            End::Client => (&client, c_local, c_remote),
            End::Server => (&server, s_local, s_remote),
        };
        let predicted = if chained {
            let event = effects::event(comp, effect.op, local, remote)?;
            let p = composer::predict::predict(comp, order, &event)?;
            match p.effective(effect.field) {
                Some((value, by)) => Predicted::Write {
                    value,
                    by: by.clone(),
                },
                None => Predicted::Nothing,
            }
        } else {
            Predicted::Nothing
        };
        rows.push(effects::judge(effect, &predicted, m, host, comp));
    }
    print_table(&rows);
    Ok(rows)
}

fn print_table(rows: &[Row]) {
    let header = ["end", "effect", "callback", "predicted", "measured"];
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            [
                match r.effect.end {
                    End::Client => "client",
                    End::Server => "server",
                }
                .to_string(),
                format!("{} ({})", r.effect.label, r.effect.field),
                r.effect.op.to_string(),
                r.predicted.clone(),
                r.measured.clone(),
            ]
        })
        .collect();
    let mut width = header.map(str::len);
    for c in &cells {
        for (w, s) in width.iter_mut().zip(c) {
            *w = (*w).max(s.chars().count());
        }
    }
    let line = |c: [&str; 5], mark: &str| {
        let mut s = String::from("    ");
        for (i, cell) in c.iter().enumerate() {
            s.push_str(&format!("{cell:<w$}  ", w = width[i]));
        }
        s.push_str(mark);
        println!("{}", s.trim_end());
    };
    line(header, "");
    for (c, r) in cells.iter().zip(rows) {
        line(
            [&c[0], &c[1], &c[2], &c[3], &c[4]],
            if r.agrees { "✓" } else { "✗" },
        );
    }
}
