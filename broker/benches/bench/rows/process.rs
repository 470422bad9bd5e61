//! A whole process per file: the `fdagent cat FILE` CLI pattern beside a plain `cat FILE`
//! run the same way (fork+exec+wait from the same loop, output captured and compared),
//! and `spawn`: what users do without a broker, a privileged helper process per file
//! (`cat FILE > /dev/null` as root), against one brokered open.
//!
//! fdagent runs as uid 2001 (it must: the broker answers by uid), `cat` as root (it
//! must: the file is root-only). Target: spawn / fdbroker ≥ 10, unpinned — the figure
//! docs/performance.md quotes for what the broker saves over a helper process per file.

use std::io;

use crate::client::{self, Spec};
use crate::stats::{Rounds, fmt_ratio, summarize};
use crate::sys::Placement;
use crate::table::Row;

use super::{Cx, ROUNDS, client_latency, lat_cells};

const SECTION: &str = "process";

pub fn run(cx: &mut Cx) -> io::Result<()> {
    let runs = cx.pick(300, 60) / ROUNDS;
    let mut broker = cx.broker("process")?;
    let socket = broker.socket.clone();
    for placement in cx.placements() {
        let (mut cat, mut agent, mut spawn) =
            (Rounds::default(), Rounds::default(), Rounds::default());
        for _ in 0..ROUNDS {
            let base = |spec: Spec| {
                spec.target(&cx.tree, "broker", &socket, placement)
                    .arg("runs", runs)
                    .arg("warm", 10)
            };
            let cat_spec = base(Spec::new("spawn").run_as_root())
                .arg("prog", "cat")
                .arg("out", "check");
            let agent_spec = base(Spec::new("spawn"))
                .arg("prog", "fdagent")
                .arg("exe", cx.tree.fdagent.display())
                .arg("out", "check");
            let spawn_spec = base(Spec::new("spawn").run_as_root())
                .arg("prog", "cat")
                .arg("out", "null");
            let mut place = || broker.place(placement);
            cat.add(client::run_samples(&cx.tree, &cat_spec, &mut place)?);
            agent.add(client::run_samples(&cx.tree, &agent_spec, &mut place)?);
            spawn.add(client::run_samples(&cx.tree, &spawn_spec, &mut place)?);
        }
        broker.check_running()?;
        let (c, a, s) = (cat.summary(), agent.summary(), spawn.summary());
        let (cm, cp) = lat_cells(&c);
        cx.table.push(
            Row::new(SECTION, "cat FILE (root), output captured")
                .placement(placement)
                .median(cm)
                .p99(cp),
        );
        let (am, ap) = lat_cells(&a);
        cx.table.push(
            Row::new(SECTION, "fdagent cat FILE (uid 2001), output captured")
                .placement(placement)
                .median(am)
                .p99(ap)
                .vs(format!(
                    "{} cat (+{})",
                    fmt_ratio(a.median / c.median),
                    crate::stats::fmt_ns(a.median - c.median)
                )),
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
        let (sm, sp) = lat_cells(&s);
        let row = Row::new(SECTION, "spawn: cat FILE >/dev/null per file (root)")
            .placement(placement)
            .median(sm)
            .p99(sp);
        cx.table.push(match fdbroker {
            Some(f) => row
                .vs(format!("{} fdbroker open", fmt_ratio(s.median / f)))
                .target("spawn/fdbroker ≥10 (unpinned)", s.median / f >= 10.0),
            None => row,
        });
    }
    Ok(())
}
