//! Idle connections: the broker's resident memory (`VmRSS`) and the single-client median
//! latency with 0 and with 10,000 idle connections open.
//!
//! The idle connections are opened by this process (as root; its `RLIMIT_NOFILE` was
//! raised at start and the broker inherits it) and count only once the broker holds
//! them: its open fds must grow by 10,000. The broker's defaults refuse that many
//! connections (and close idle ones after 30 s), so when this build has the limit flags
//! the broker of this section is started with them raised — the setting an administrator
//! expecting 10,000 clients would use. The 0-idle and 10,000-idle measurements alternate
//! in two rounds.
//!
//! Targets: RSS growth ≤ 32 MiB; latency with 10,000 idle ≤ 1.10× with none, under the
//! same placement.

use std::io;
use std::time::{Duration, Instant};

use fdbroker_agent::Client;

use crate::daemon::Broker;
use crate::stats::{Rounds, fmt_bytes, fmt_ratio, median_f64};
use crate::table::Row;

use super::{Cx, client_latency, lat_cells};

const SECTION: &str = "idle";
const IDLE: usize = 10_000;
const ROUNDS: usize = 2;
/// How long the broker may take to take in (or let go of) the idle connections.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

pub fn run(cx: &mut Cx) -> io::Result<()> {
    if cx.nofile < IDLE as u64 + 1000 {
        cx.table.note(format!(
            "idle rows skipped: RLIMIT_NOFILE is {} and cannot be raised",
            cx.nofile
        ));
        return Ok(());
    }
    let raised = [
        "--max-connections",
        "20000",
        "--max-connections-per-uid",
        "20000",
        "--idle-timeout",
        "3600",
    ];
    let extra: &[&str] = if cx.limit_flags { &raised } else { &[] };
    let policy = crate::policies::broker_policy(&cx.tree);
    let mut broker = Broker::start_with(&cx.tree, "idle", &policy, extra)?;
    if cx.limit_flags {
        cx.table.note(
            "idle: broker started with --max-connections 20000 --max-connections-per-uid 20000 \
             --idle-timeout 3600 (the defaults refuse 10,000 connections)",
        );
    }
    let iters = cx.pick(60_000, 10_000) / ROUNDS as u64;
    let placements = cx.placements();
    // [placement][idle?] samples; RSS before and with the idle connections.
    let mut lat: [[Rounds; 2]; 2] = Default::default();
    let (mut rss0, mut rss1) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        for (p, &placement) in placements.iter().enumerate() {
            let socket = broker.socket.clone();
            lat[p][0].add(client_latency(
                cx,
                "broker",
                &socket,
                placement,
                iters,
                &mut || broker.place(placement),
            )?);
        }
        let fds0 = broker.open_fds()?;
        rss0.push(settled_rss(&broker)? as f64);
        let idle = open_idle(&broker, fds0)?;
        rss1.push(settled_rss(&broker)? as f64);
        for (p, &placement) in placements.iter().enumerate() {
            let socket = broker.socket.clone();
            lat[p][1].add(client_latency(
                cx,
                "broker",
                &socket,
                placement,
                iters,
                &mut || broker.place(placement),
            )?);
        }
        drop(idle);
        wait_fds(&broker, |n| n <= fds0 + 2, "let go of the idle connections")?;
        broker.check_running()?;
    }
    let (r0, r1) = (median_f64(&rss0), median_f64(&rss1));
    cx.table.push(
        Row::new(SECTION, "fdbroker RSS, 0 idle connections")
            .median(fmt_bytes(r0))
            .vs(format!("median of {ROUNDS}")),
    );
    cx.table.push(
        Row::new(SECTION, "fdbroker RSS, 10,000 idle connections")
            .median(fmt_bytes(r1))
            .vs(format!("+{}", fmt_bytes(r1 - r0)))
            .target("growth ≤32 MiB", r1 - r0 <= 32.0 * 1024.0 * 1024.0),
    );
    for (p, placement) in placements.into_iter().enumerate() {
        let [none, many] = &mut lat[p];
        let (s0, s1) = (none.summary(), many.summary());
        let (m0, p0) = lat_cells(&s0);
        cx.table.push(
            Row::new(SECTION, "fdbroker open, 0 idle connections")
                .placement(placement)
                .median(m0)
                .p99(p0),
        );
        let (m1, p1) = lat_cells(&s1);
        let r = s1.median / s0.median;
        cx.table.push(
            Row::new(SECTION, "fdbroker open, 10,000 idle connections")
                .placement(placement)
                .median(m1)
                .p99(p1)
                .vs(format!("{} 0 idle", fmt_ratio(r)))
                .target("≤1.10× 0 idle", r <= 1.10),
        );
    }
    Ok(())
}

/// Opens [`IDLE`] connections and waits until the broker holds them all.
fn open_idle(broker: &Broker, fds0: usize) -> io::Result<Vec<Client>> {
    let mut idle = Vec::with_capacity(IDLE);
    for _ in 0..IDLE {
        idle.push(Client::connect(&broker.socket)?);
    }
    wait_fds(broker, |n| n >= fds0 + IDLE, "hold 10,000 idle connections")?;
    Ok(idle)
}

/// Polls the broker's open fd count until `done` says so.
fn wait_fds(broker: &Broker, done: impl Fn(usize) -> bool, what: &str) -> io::Result<()> {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let n = broker.open_fds()?;
        if done(n) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(io::Error::other(format!(
                "the broker did not {what} within {SETTLE_TIMEOUT:?} ({n} fds open); \
                 see {}",
                broker.log.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The broker's RSS once it stops changing (two reads 200 ms apart within 64 KiB).
fn settled_rss(broker: &Broker) -> io::Result<u64> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut last = broker.rss()?;
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let now = broker.rss()?;
        if now.abs_diff(last) <= 64 * 1024 || Instant::now() > deadline {
            return Ok(now);
        }
        last = now;
    }
}
