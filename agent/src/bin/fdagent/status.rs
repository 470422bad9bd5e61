//! `fdagent status`: what the broker tells this user, as text for people (times in UTC
//! with how long ago) or as one JSON object for programs (times in seconds since the Unix
//! epoch). The JSON shape is documented in `fdagent status --help` ([`JSON_SHAPE`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fdbroker_agent::{BrokerStatus, ReloadAttempt, ReloadResult, StatusReply};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

/// The JSON `fdagent status --json` prints, for `--help`.
pub const JSON_SHAPE: &str = r#"JSON output (--json), one object; times are seconds since the Unix epoch.
As root:
  {"scope": "full", "uptime_secs": N,
   "policy": {"file": "PATH", "loaded_at": T, "rule_count": N},
   "last_reload": null | {"at": T, "result": "in_force" | "invalid" | "needs_restart",
                          "error": "first line of the reason, empty when in force"},
   "connections": {"open": N, "peak": N}, "default_denied": N, "errors": N,
   "rules": [{"name": "NAME", "allowed": N, "denied": N, "inactive": null|"WHY"}, ...]}
As another user (only the allow rules that name you):
  {"scope": "granted", "rules": ["NAME", ...]}"#;

/// Prints `reply` as text, or as JSON when `json`.
pub fn print(reply: &StatusReply, json: bool) {
    let now = SystemTime::now();
    match (reply, json) {
        (StatusReply::Full(status), false) => print_full(status, now),
        (StatusReply::Granted(rules), false) => {
            println!("rules that grant this user:");
            for rule in rules {
                println!("  {rule}");
            }
        }
        (reply, true) => println!("{}", to_json(reply)),
    }
}

fn print_full(status: &BrokerStatus, now: SystemTime) {
    println!("uptime: {}", span(status.uptime));
    println!(
        "policy: {} ({} rule{}), loaded {}",
        status.policy_file,
        status.rules.len(),
        if status.rules.len() == 1 { "" } else { "s" },
        when(status.policy_loaded_at, now)
    );
    match &status.last_reload {
        None => println!("last reload: none since start"),
        Some(attempt) => println!("last reload: {}", reload_line(attempt, now)),
    }
    println!(
        "connections: {} now, {} at most",
        status.connections, status.peak_connections
    );
    println!("default deny: {}", status.default_denied);
    println!("errors: {}", status.errors);
    println!("{:>10} {:>10}  rule", "allowed", "denied");
    for rule in &status.rules {
        match &rule.inactive {
            None => println!("{:>10} {:>10}  {}", rule.allowed, rule.denied, rule.name),
            Some(why) => println!(
                "{:>10} {:>10}  {} (inactive: {why})",
                rule.allowed, rule.denied, rule.name
            ),
        }
    }
}

/// `TIME (AGO ago): RESULT[: ERROR]`.
fn reload_line(attempt: &ReloadAttempt, now: SystemTime) -> String {
    let mut line = format!("{}: {}", when(attempt.at, now), attempt.result.as_str());
    if !attempt.error.is_empty() {
        line.push_str(": ");
        line.push_str(&attempt.error);
    }
    line
}

/// `2026-12-07 21:30:05 UTC (5m 3s ago)`.
fn when(at: SystemTime, now: SystemTime) -> String {
    let secs = unix_secs(at);
    let stamp = Timestamp::from_second(secs as i64).map_or_else(
        |_| format!("{secs} (Unix time)"),
        |t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
    );
    match now.duration_since(at) {
        Ok(ago) => format!("{stamp} ({} ago)", span(ago)),
        // The clock was set back since.
        Err(_) => format!("{stamp} (in the future by this host's clock)"),
    }
}

/// A duration to the second, as `1h 5m 3s`.
fn span(duration: Duration) -> String {
    let secs = i64::try_from(duration.as_secs()).unwrap_or(i64::MAX);
    format!("{:#}", SignedDuration::from_secs(secs))
}

fn unix_secs(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn to_json(reply: &StatusReply) -> Value {
    let status = match reply {
        StatusReply::Granted(rules) => return json!({"scope": "granted", "rules": rules}),
        StatusReply::Full(status) => status,
    };
    let rules: Vec<Value> = status
        .rules
        .iter()
        .map(|r| {
            json!({"name": r.name, "allowed": r.allowed, "denied": r.denied, "inactive": r.inactive})
        })
        .collect();
    let last_reload = status.last_reload.as_ref().map(|a| {
        let result = match a.result {
            ReloadResult::InForce => "in_force",
            ReloadResult::Invalid => "invalid",
            ReloadResult::NeedsRestart => "needs_restart",
        };
        json!({"at": unix_secs(a.at), "result": result, "error": a.error})
    });
    json!({
        "scope": "full",
        "uptime_secs": status.uptime.as_secs(),
        "policy": {
            "file": status.policy_file,
            "loaded_at": unix_secs(status.policy_loaded_at),
            "rule_count": status.rules.len(),
        },
        "last_reload": last_reload,
        "connections": {"open": status.connections, "peak": status.peak_connections},
        "default_denied": status.default_denied,
        "errors": status.errors,
        "rules": rules,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_with_how_long_ago() {
        let at = UNIX_EPOCH + Duration::from_secs(1_796_678_405);
        assert_eq!(
            when(at, at + Duration::from_secs(303)),
            "2026-12-07 21:20:05 UTC (5m 3s ago)"
        );
        assert_eq!(
            when(at, at - Duration::from_secs(1)),
            "2026-12-07 21:20:05 UTC (in the future by this host's clock)"
        );
        assert_eq!(span(Duration::ZERO), "0s");
    }
}
