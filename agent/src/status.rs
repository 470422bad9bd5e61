//! The broker's state and counters (`Status`), gathered page by page, and root's
//! synchronous reload (`Reload`), which answers with the same state.

use std::io;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fdbroker_wire::{ReloadResult, Request, Response};

use crate::Client;
use crate::client::malformed;

impl Client {
    /// What the broker tells this client about itself: everything to root
    /// ([`StatusReply::Full`]); to another client, only the names of the allow rules that
    /// name it ([`StatusReply::Granted`]); a client no allow rule names gets
    /// `PermissionDenied`.
    ///
    /// ```no_run
    /// use fdbroker_agent::StatusReply;
    ///
    /// let mut client = fdbroker_agent::Client::connect_default()?;
    /// match client.status()? {
    ///     StatusReply::Full(status) => {
    ///         for rule in &status.rules {
    ///             println!("{}: {} allowed, {} denied", rule.name, rule.allowed, rule.denied);
    ///         }
    ///     }
    ///     StatusReply::Granted(rules) => println!("granted by {}", rules.join(", ")),
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn status(&mut self) -> io::Result<StatusReply> {
        let (first, _) = self.call(&Request::Status { first_rule: 0 }, |r| match r {
            Response::Status(page) => Some(Page::Full(BrokerStatus::from_page(page))),
            Response::Grants(page) => Some(Page::Granted(names(&page), page.rule_count)),
            _ => None,
        })?;
        match first {
            Page::Full((status, all)) => self.rest_of(status, all).map(StatusReply::Full),
            Page::Granted(mut rules, all) => {
                while rules.len() < all as usize {
                    let first_rule = rules.len() as u32;
                    let (page, _) = self.call(&Request::Status { first_rule }, |r| match r {
                        Response::Grants(page) => Some(names(&page)),
                        _ => None,
                    })?;
                    // An empty page means the policy was reloaded with fewer rules meanwhile.
                    if page.is_empty() {
                        break;
                    }
                    rules.extend(page);
                }
                Ok(StatusReply::Granted(rules))
            }
        }
    }

    /// Root only: has the broker re-read its policy file now, and returns once that attempt
    /// is over, with the broker's state then. Its [`BrokerStatus::last_reload`] says
    /// whether the new policy is in force, and if not, why. Another client gets
    /// `PermissionDenied`.
    ///
    /// ```no_run
    /// use fdbroker_agent::ReloadResult;
    ///
    /// let mut client = fdbroker_agent::Client::connect_default()?;
    /// let status = client.reload()?;
    /// if let Some(attempt) = status.last_reload.filter(|a| a.result != ReloadResult::InForce) {
    ///     eprintln!("the old policy stays: {}", attempt.error);
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn reload(&mut self) -> io::Result<BrokerStatus> {
        let ((status, all), _) = self.call(&Request::Reload, |r| match r {
            Response::Status(page) => Some(BrokerStatus::from_page(page)),
            _ => None,
        })?;
        if status.last_reload.is_none() {
            return Err(malformed(
                "the broker answered a reload without its outcome",
            ));
        }
        self.rest_of(status, all)
    }

    /// Completes `status`, whose policy has `all` rules, with the pages after its own.
    fn rest_of(&mut self, mut status: BrokerStatus, all: u32) -> io::Result<BrokerStatus> {
        while status.rules.len() < all as usize {
            let first_rule = status.rules.len() as u32;
            let ((page, _), _) = self.call(&Request::Status { first_rule }, |r| match r {
                Response::Status(page) => Some(BrokerStatus::from_page(page)),
                _ => None,
            })?;
            // An empty page means the policy was reloaded with fewer rules meanwhile.
            if page.rules.is_empty() {
                break;
            }
            status.rules.extend(page.rules);
        }
        Ok(status)
    }
}

/// The first page of a `Status` reply, of either kind.
enum Page {
    /// Root's, with the policy's rule count.
    Full((BrokerStatus, u32)),
    /// Another client's: rule names, and how many there are in all.
    Granted(Vec<String>, u32),
}

fn names(page: &fdbroker_wire::Grants<'_>) -> Vec<String> {
    page.rules.0.iter().map(|&name| name.to_owned()).collect()
}

/// What [`Client::status`] learns: root's full view, or another client's grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusReply {
    /// For root: the broker's state and counters.
    Full(BrokerStatus),
    /// For another client: the names of the allow rules that name it, in file order.
    Granted(Vec<String>),
}

/// The broker's state, as root sees it.
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
    /// The last reload attempt since the broker started, if any.
    pub last_reload: Option<ReloadAttempt>,
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
    /// Why it serves nothing, when a root of its could not be confined to at start.
    pub inactive: Option<String>,
}

/// One attempt to reload the policy (SIGHUP or [`Client::reload`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadAttempt {
    /// When it ended.
    pub at: SystemTime,
    /// Whether the new policy is in force, and if not, why not in a word.
    pub result: ReloadResult,
    /// The first line of the reason it was not taken; empty when in force.
    pub error: String,
}

impl BrokerStatus {
    /// The page's state, and the rule count of its policy.
    fn from_page(page: fdbroker_wire::Status<'_>) -> (BrokerStatus, u32) {
        let status = BrokerStatus {
            uptime: Duration::from_secs(page.uptime_secs),
            policy_file: page.policy_file.to_owned(),
            policy_loaded_at: unix_time(page.policy_loaded_at),
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
                    inactive: r.inactive.map(str::to_owned),
                })
                .collect(),
            last_reload: page.last_reload.map(|a| ReloadAttempt {
                at: unix_time(a.at),
                result: a.result,
                error: a.error.to_owned(),
            }),
        };
        (status, page.rule_count)
    }
}

/// `secs` after the Unix epoch; a time past what `SystemTime` holds (which no broker
/// sends) is taken as the epoch rather than panicking.
pub(crate) fn unix_time(secs: u64) -> SystemTime {
    UNIX_EPOCH
        .checked_add(Duration::from_secs(secs))
        .unwrap_or(UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_past_what_systemtime_holds_do_not_panic() {
        assert_eq!(unix_time(u64::MAX), UNIX_EPOCH);
        assert_eq!(unix_time(60), UNIX_EPOCH + Duration::from_secs(60));
    }
}
