//! The fdbroker benchmark: what a brokered open costs, next to what it must cost.
//!
//! ```sh
//! cargo build --release --workspace        # fdagent, which the `process` rows run
//! cargo bench -p fdbroker --bench bench                  # everything (about 5 minutes)
//! cargo bench -p fdbroker --bench bench -- --quick       # a short run (under a minute)
//! cargo bench -p fdbroker --bench bench -- batch idle    # only the sections named
//! ```
//!
//! Options (after `--`): `--quick` (fewer iterations, shorter windows), `--cpu N` (the CPU
//! the pinned rows use, default 0), `--list` (the sections), and section names: a
//! section runs if its name contains one of them (`latency`, `throughput`, `process`,
//! `batch`, `policy`, `idle`, `reload`, `clib`, `python`, `run`). Run as root: the bench
//! creates root-only files and runs its clients under other uids with `setpriv`. The
//! `process` section also builds the programs it compares fdagent with, with `cc` and
//! `rustc` ([`baselines`]).
//!
//! It prints one table: every figure is a median (and a p99 where it is a latency) over
//! enough samples to be stable, its ratio to baselines measured in the same run under the
//! same CPU placement, and the target with PASS/FAIL. No figure is hard-coded: the
//! baselines are `direct` (open+fstat+close in this process) and the `floor`, the
//! shortest possible broker, written here ([`floor`]) and run as its own process.
//!
//! Where a target is shown out of physical reach by this run's own figures (a batch
//! target that the floor doing fdbroker's duties misses by itself; the pinned reload
//! row), the row keeps its target, judged and counted, and also carries the bar set in
//! its place (`reset: ...`), judged separately; a note under the table says why.
//!
//! Internally the same executable is also the floor server (`__floor SOCKET`) and every
//! client (`__client TASK ...`, usually behind `setpriv` as uid 2001): see [`client`].

use std::io;
use std::process::ExitCode;
use std::time::Instant;

#[path = "bench/baselines.rs"]
mod baselines;
#[path = "bench/client.rs"]
mod client;
/// The broker's own way of closing a batch's fds, so the floors close theirs as cheaply.
/// (Its unit tests run with the broker's; built here with `--all-targets`, they are unused.)
#[path = "../src/request/close_runs.rs"]
#[cfg_attr(test, allow(dead_code, unused_imports))]
mod close_runs;
#[path = "bench/daemon.rs"]
mod daemon;
#[path = "bench/floor.rs"]
mod floor;
#[path = "bench/policies.rs"]
mod policies;
#[path = "bench/rows/mod.rs"]
mod rows;
#[path = "bench/stats.rs"]
mod stats;
#[path = "bench/sys.rs"]
mod sys;
#[path = "bench/table.rs"]
mod table;
#[path = "bench/tree.rs"]
mod tree;

use rows::Cx;

/// The sections, in the order they run.
const SECTIONS: [(&str, rows::Section); 10] = [
    ("latency", rows::latency::run),
    ("throughput", rows::throughput::run),
    ("process", rows::process::run),
    ("batch", rows::batch::run),
    ("policy", rows::policy::run),
    ("idle", rows::idle::run),
    ("reload", rows::reload::run),
    ("clib", rows::clib::run),
    ("python", rows::python::run),
    ("run", rows::run::run),
];

/// What the command line asked for.
#[derive(Debug, Default)]
struct Options {
    quick: bool,
    cpu: usize,
    filters: Vec<String>,
    list: bool,
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut opts = Options::default();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => opts.quick = true,
            "--list" => opts.list = true,
            // `cargo bench` passes `--bench` to every bench target.
            "--bench" => {}
            "--cpu" => {
                opts.cpu = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .ok_or("--cpu needs a CPU number")?;
            }
            "-h" | "--help" => return Err(String::new()),
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag}")),
            section => opts.filters.push(section.to_owned()),
        }
    }
    for f in &opts.filters {
        if !SECTIONS.iter().any(|(name, _)| name.contains(f.as_str())) {
            return Err(format!("no section matches {f:?}"));
        }
    }
    Ok(opts)
}

const USAGE: &str =
    "usage: cargo bench -p fdbroker --bench bench -- [--quick] [--cpu N] [--list] [SECTION...]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // The hidden roles of this executable, for the processes the bench starts.
    let hidden = match args.first().map(String::as_str) {
        Some("__floor") => Some(floor::server_main(&args[1..])),
        Some("__client") => Some(client::main(&args[1..])),
        _ => None,
    };
    if let Some(result) = hidden {
        return match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("bench {}: {e}", args[0]);
                ExitCode::FAILURE
            }
        };
    }
    let opts = match parse_options(&args) {
        Ok(opts) => opts,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("bench: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    if opts.list {
        for (name, _) in SECTIONS {
            println!("{name}");
        }
        return ExitCode::SUCCESS;
    }
    match run(&opts) {
        Ok(failures) => {
            // Unmet targets are findings, reported in the table, not a failure to measure.
            if failures > 0 {
                eprintln!("bench: {failures} target(s) not met (see the table)");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(opts: &Options) -> io::Result<usize> {
    if !rustix::process::geteuid().is_root() {
        return Err(io::Error::other(
            "must run as root: it creates root-only files and runs clients as uid 2001 via setpriv",
        ));
    }
    let started = Instant::now();
    // Another busy process on a 2-vCPU VM skews every figure: the table says what the
    // load was.
    let load_start = sys::loadavg();
    // Captured before anything is pinned: "unpinned" means these CPUs.
    let cpus = sys::all_cpus();
    if !cpus.is_set(opts.cpu) {
        return Err(io::Error::other(format!("--cpu {}: not ours", opts.cpu)));
    }
    // Room for the 10,000 idle connections, here and (inherited) in the broker.
    let nofile = sys::raise_nofile(65536)?;
    let fdagent = daemon::fdagent_exe()?;
    let tree = tree::Tree::create(&fdagent)?;
    let mut cx = Cx::new(tree, opts.quick, opts.cpu, nofile)?;
    eprintln!(
        "bench: fdbroker {}, {} CPUs, pinned rows on cpu{}, {} run",
        daemon::fdbroker_exe().display(),
        cpus.count(),
        opts.cpu,
        if opts.quick { "quick" } else { "full" }
    );
    for (name, section) in SECTIONS {
        if !opts.filters.is_empty() && !opts.filters.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        eprintln!("== {name}");
        let t = Instant::now();
        if let Err(e) = section(&mut cx) {
            cx.tree.keep = true;
            return Err(e);
        }
        eprintln!("   ({name}: {:.0} s)", t.elapsed().as_secs_f64());
    }
    cx.table.note(format!(
        "load average at start {load_start}, at end {}",
        sys::loadavg()
    ));
    let elapsed = started.elapsed().as_secs_f64();
    cx.table.note(format!(
        "total bench time {elapsed:.0} s ({} run); sections: {}",
        if opts.quick { "--quick" } else { "full" },
        if opts.filters.is_empty() {
            "all".to_owned()
        } else {
            opts.filters.join(", ")
        }
    ));
    println!("{}", cx.table.render());
    Ok(cx.table.failures())
}
