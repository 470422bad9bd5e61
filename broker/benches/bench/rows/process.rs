//! A whole process per file: the `fdagent cat FILE` CLI pattern beside `fdcat FILE`, a
//! minimal C client doing the same (one Open, the fd, a copy to stdout), and a plain
//! `cat FILE`, each a fork+exec+wait from the same loop with its output captured and
//! compared; the hello-worlds in C and Rust, what a process of each language costs at
//! all; and `spawn`: what users do without a broker, a privileged helper process per
//! file (`cat FILE > /dev/null` as root), against one brokered open.
//!
//! fdagent and fdcat run as uid 2001 (they must: the broker answers by uid), in one
//! client process that runs them and the hello-worlds in turn, run by run, so that they
//! share the machine's moment; `cat` runs as root (it must: the file is root-only).
//! Targets: fdagent / fdcat ≤ 1.3 (fdagent costs little more than the least a C program
//! can do: nothing is done at start that `cat` does not need); spawn / fdbroker ≥ 10,
//! unpinned (the figure docs/performance.md quotes for what the broker saves over a helper
//! process per file).

use std::io;

use crate::baselines;
use crate::client::{self, Spec};
use crate::stats::{Rounds, Summary, fmt_ns, fmt_ratio, summarize};
use crate::sys::Placement;
use crate::table::Row;

use super::{Cx, ROUNDS, client_latency, lat_cells};

const SECTION: &str = "process";
/// The bar of the fdagent row: its median over fdcat's.
const FDAGENT_OVER_FDCAT: f64 = 1.3;
/// What the uid-2001 client runs in turn, in this order.
const CLIENT_PROGS: [&str; 4] = ["fdagent", "fdcat", "hello-c", "hello-rust"];

pub fn run(cx: &mut Cx) -> io::Result<()> {
    baselines::build(&cx.tree)?;
    let runs = cx.pick(1500, 300) / ROUNDS;
    let mut broker = cx.broker("process")?;
    let socket = broker.socket.clone();
    for placement in cx.placements() {
        let (mut cat, mut spawn) = (Rounds::default(), Rounds::default());
        let mut progs: [Rounds; CLIENT_PROGS.len()] = Default::default();
        for _ in 0..ROUNDS {
            let base = |spec: Spec| {
                spec.target(&cx.tree, "broker", &socket, placement)
                    .arg("runs", runs)
                    .arg("warm", 10)
                    .arg("bin", cx.tree.path("bin").display())
            };
            let cat_spec = base(Spec::new("spawn").run_as_root())
                .arg("progs", "cat")
                .arg("out", "check");
            let client_spec = base(Spec::new("spawn"))
                .arg("progs", CLIENT_PROGS.join(","))
                .arg("out", "check");
            let spawn_spec = base(Spec::new("spawn").run_as_root())
                .arg("progs", "cat")
                .arg("out", "null");
            let mut place = || broker.place(placement);
            cat.add(client::run_samples(&cx.tree, &cat_spec, &mut place)?);
            let samples = client::run_samples(&cx.tree, &client_spec, &mut place)?;
            if samples.len() != CLIENT_PROGS.len() * runs as usize {
                return Err(io::Error::other("the spawn client reported a wrong count"));
            }
            for (rounds, chunk) in progs.iter_mut().zip(samples.chunks(runs as usize)) {
                rounds.add(chunk.to_vec());
            }
            spawn.add(client::run_samples(&cx.tree, &spawn_spec, &mut place)?);
        }
        broker.check_running()?;
        let (c, s) = (cat.summary(), spawn.summary());
        let [agent, fdcat, hello_c, hello_rust] = progs.map(|mut p| p.summary());
        let row = |name: &str, summary: &Summary| {
            let (median, p99) = lat_cells(summary);
            Row::new(SECTION, name)
                .placement(placement)
                .median(median)
                .p99(p99)
        };
        let versus = |a: &Summary, b: &Summary, name: &str| {
            let d = a.median - b.median;
            let sign = if d < 0.0 { '-' } else { '+' };
            format!(
                "{} {name} ({sign}{})",
                fmt_ratio(a.median / b.median),
                fmt_ns(d.abs())
            )
        };
        cx.table.push(row("cat FILE (root), output captured", &c));
        cx.table.push(
            row("fdcat FILE: C client (uid 2001), output captured", &fdcat)
                .vs(versus(&fdcat, &c, "cat")),
        );
        let ratio = agent.median / fdcat.median;
        cx.table.push(
            row("fdagent cat FILE (uid 2001), output captured", &agent)
                .vs(format!(
                    "{}; {}",
                    versus(&agent, &fdcat, "fdcat"),
                    versus(&agent, &c, "cat")
                ))
                .target(
                    format!("fdagent/fdcat ≤{FDAGENT_OVER_FDCAT}"),
                    ratio <= FDAGENT_OVER_FDCAT,
                ),
        );
        cx.table.push(row(
            "hello-world in C (uid 2001), output captured",
            &hello_c,
        ));
        cx.table.push(
            row(
                "hello-world in Rust (uid 2001), output captured",
                &hello_rust,
            )
            .vs(versus(&hello_rust, &hello_c, "C hello")),
        );
        // The brokered open this is compared with: the latency section's figure, or a
        // short measurement of our own when that section did not run.
        let fdbroker = match (placement, cx.fdbroker_unpinned) {
            (Placement::Unpinned, Some(m)) => Some(m),
            (Placement::Unpinned, None) => {
                let iters = cx.pick(30_000, 10_000);
                let mut s = client_latency(cx, "broker", &socket, placement, iters, &mut || {
                    broker.place(placement)
                })?;
                let m = summarize(&mut s).median;
                cx.fdbroker_unpinned = Some(m);
                Some(m)
            }
            _ => None,
        };
        let row = row("spawn: cat FILE >/dev/null per file (root)", &s);
        cx.table.push(match fdbroker {
            Some(f) => row
                .vs(format!("{} fdbroker open", fmt_ratio(s.median / f)))
                .target("spawn/fdbroker ≥10 (unpinned)", s.median / f >= 10.0),
            None => row,
        });
    }
    Ok(())
}
