//! Policy scaling, in this process: `Policy::parse` of generated texts of 10, 1,000 and
//! 10,000 rules (mixed literal, `*` and `**` patterns, users and groups, one deny rule in
//! ten), then `decide` for uid 2001 on a path decided by a rule near the end and on one no
//! rule matches; and the load (parse) time of the 10,000-rule text.
//!
//! A decision takes well under a microsecond, below what one clock read resolves well, so
//! each sample times a run of K decisions (K chosen so a sample lasts ≥ 20 µs) and is
//! divided by K. Every decision's outcome is checked (the expected rule, or the default
//! deny). Pinned to the bench CPU: this is CPU work, and pinning keeps migrations out.
//!
//! Targets: a decision at 10,000 rules ≤ 2× the same decision at 10 rules; loading the
//! 10,000-rule text < 50 ms.

use std::hint::black_box;
use std::io;
use std::time::Instant;

use fdbroker_policy::{Access, Decision, Peer, Policy, Rule};

use crate::client::{CLIENT_GID, CLIENT_UID};
use crate::policies::{NoNames, scaling_policy};
use crate::stats::{Summary, fmt_ns, fmt_ratio, ns, summarize};
use crate::sys::{self, Placement};
use crate::table::Row;

use super::Cx;

const SECTION: &str = "policy";
const SIZES: [usize; 3] = [10, 1_000, 10_000];
/// Rounds the sizes alternate in.
const ROUNDS: usize = 3;
const PEER: Peer<'static> = Peer {
    uid: CLIENT_UID,
    gid: CLIENT_GID,
    groups: &[],
    process: None,
    namespace: fdbroker_policy::Namespace::Broker,
};

pub fn run(cx: &mut Cx) -> io::Result<()> {
    let placement = Placement::Pinned(cx.cpu);
    sys::place_self(placement)?;
    let result = measure(cx, placement);
    sys::place_self(Placement::Unpinned)?;
    result
}

fn measure(cx: &mut Cx, placement: Placement) -> io::Result<()> {
    let samples = cx.pick(3000, 500) as usize / ROUNDS;
    // Each size: its policy and its two requests (path, expected deciding rule).
    let mut cases = Vec::new();
    for n in SIZES {
        let (text, late, none) = scaling_policy(n);
        cases.push((n, parse(&text, n)?, [late, none]));
    }
    // [size][late, none] samples; the sizes alternate round by round, so a change of
    // the machine's speed during the section hits them all alike.
    let mut got = vec![[Vec::new(), Vec::new()]; SIZES.len()];
    for _ in 0..ROUNDS {
        for ((_, policy, paths), got) in cases.iter().zip(&mut got) {
            let late_rule = policy
                .rules()
                .iter()
                .find(|r| r.name() == "late")
                .ok_or_else(|| io::Error::other("no rule \"late\""))?;
            for (k, expected) in [Some(late_rule), None].into_iter().enumerate() {
                got[k].extend(decision_samples(policy, paths[k], expected, samples)?);
            }
        }
    }
    // [late, none] decision medians at 10 rules, the baseline of the larger policies.
    let mut base = [0.0f64; 2];
    for ((n, _, _), got) in cases.iter().zip(&mut got) {
        for (k, what) in ["late match", "no match"].into_iter().enumerate() {
            let s = picos_to_ns(summarize(&mut got[k]));
            if *n == SIZES[0] {
                base[k] = s.median;
            }
            let row = Row::new(SECTION, format!("decide, {n} rules, {what}"))
                .placement(placement)
                .median(fmt_ns(s.median))
                .p99(fmt_ns(s.p99))
                .vs(format!("{} 10 rules", fmt_ratio(s.median / base[k])));
            cx.table.push(if *n == 10_000 {
                row.target("≤2× 10 rules", s.median <= 2.0 * base[k])
            } else {
                row
            });
        }
    }
    let (text, _, _) = scaling_policy(10_000);
    let mut loads = Vec::new();
    for _ in 0..cx.pick(15, 5) {
        let t = Instant::now();
        let policy = parse(&text, 10_000)?;
        loads.push(ns(t.elapsed()));
        drop(black_box(policy));
    }
    let s = summarize(&mut loads);
    cx.table.push(
        Row::new(
            SECTION,
            format!("load (parse) 10,000 rules, {} KiB", text.len() / 1024),
        )
        .placement(placement)
        .median(fmt_ns(s.median))
        .p99(fmt_ns(s.max))
        .vs(format!("max of {}", s.n))
        .target("<50 ms", s.median < 50e6),
    );
    Ok(())
}

fn parse(text: &str, n: usize) -> io::Result<Policy> {
    let policy = Policy::parse(text, &NoNames).map_err(|errors| {
        io::Error::other(format!(
            "generated policy rejected: {}",
            errors
                .iter()
                .take(3)
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        ))
    })?;
    if policy.rules().len() != n {
        return Err(io::Error::other("generated policy: wrong rule count"));
    }
    Ok(policy)
}

/// A summary of picosecond samples, in nanoseconds.
fn picos_to_ns(s: Summary) -> Summary {
    Summary {
        median: s.median / 1000.0,
        p99: s.p99 / 1000.0,
        max: s.max / 1000.0,
        ..s
    }
}

/// Per-decision times in picoseconds (a decision is tens of nanoseconds: whole
/// nanoseconds would be too coarse): `samples` samples of K decisions each, every outcome
/// checked.
fn decision_samples(
    policy: &Policy,
    path: &[u8],
    expected: Option<&Rule>,
    samples: usize,
) -> io::Result<Vec<u64>> {
    let run = |k: u64| -> io::Result<u64> {
        let t = Instant::now();
        for _ in 0..k {
            let d = black_box(policy).decide(&PEER, black_box(path), Access::READ);
            let same = match (d, expected) {
                (Decision::Allow(a), Some(b)) => std::ptr::eq(a, b),
                (Decision::Deny(None), None) => true,
                _ => false,
            };
            if !same {
                return Err(io::Error::other(format!(
                    "decide({}) gave {d}",
                    String::from_utf8_lossy(path)
                )));
            }
        }
        Ok(ns(t.elapsed()))
    };
    // Calibrate K, warming up at the same time.
    let mut k = 1u64;
    while run(k)? < 20_000 && k < 1 << 20 {
        k *= 2;
    }
    let mut out = Vec::with_capacity(samples);
    for _ in 0..samples {
        out.push(run(k)? * 1000 / k);
    }
    Ok(out)
}
