//! The broker's state and counters (`Status`), gathered page by page.

use std::io;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fdbroker_wire::{Request, Response};

use crate::Client;

impl Client {
    /// The broker's state and counters (counts since its policy was loaded). Only root and
    /// the clients a rule of the policy names may ask; others get `PermissionDenied`.
    ///
    /// ```no_run
    /// let mut client = fdbroker_agent::Client::connect_default()?;
    /// let status = client.status()?;
    /// for rule in &status.rules {
    ///     println!("{}: {} allowed, {} denied", rule.name, rule.allowed, rule.denied);
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn status(&mut self) -> io::Result<BrokerStatus> {
        let mut status: Option<BrokerStatus> = None;
        loop {
            let first_rule = status.as_ref().map_or(0, |s| s.rules.len() as u32);
            let ((page, all), _) = self.call(&Request::Status { first_rule }, |r| match r {
                Response::Status(page) => {
                    let all = page.rule_count as usize;
                    Some((BrokerStatus::from_page(page), all))
                }
                _ => None,
            })?;
            let got = page.rules.len();
            let status = match status.as_mut() {
                Some(status) => {
                    status.rules.extend(page.rules);
                    status
                }
                None => status.insert(page),
            };
            // An empty page means the policy was reloaded with fewer rules meanwhile.
            if status.rules.len() >= all || got == 0 {
                return Ok(status.clone());
            }
        }
    }
}

/// The broker's state, as [`Client::status`] returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerStatus {
    /// How long the broker has been running.
    pub uptime: Duration,
    /// Its policy file.
    pub policy_file: String,
    /// When the policy in force was loaded.
    pub policy_loaded_at: SystemTime,
    /// Connections open now.
    pub connections: u64,
    /// The most connections open at once since start.
    pub peak_connections: u64,
    /// Requests no rule allowed.
    pub default_denied: u64,
    /// Allowed requests whose open failed, and malformed requests.
    pub errors: u64,
    /// Counts per rule, in file order.
    pub rules: Vec<RuleCounts>,
}

/// What one rule decided since the policy was loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleCounts {
    /// The rule's name.
    pub name: String,
    /// Requests it allowed.
    pub allowed: u64,
    /// Requests it denied.
    pub denied: u64,
}

impl BrokerStatus {
    fn from_page(page: fdbroker_wire::Status<'_>) -> BrokerStatus {
        BrokerStatus {
            uptime: Duration::from_secs(page.uptime_secs),
            policy_file: page.policy_file.to_owned(),
            policy_loaded_at: UNIX_EPOCH + Duration::from_secs(page.policy_loaded_at),
            connections: page.connections,
            peak_connections: page.peak_connections,
            default_denied: page.default_denied,
            errors: page.errors,
            rules: page
                .rules
                .0
                .into_iter()
                .map(|r| RuleCounts {
                    name: r.name.to_owned(),
                    allowed: r.allowed,
                    denied: r.denied,
                })
                .collect(),
        }
    }
}
