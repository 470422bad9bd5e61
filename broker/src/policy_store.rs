//! The live policy: read by every request, replaced as a whole on reload.
//!
//! A request takes a reference to the current policy once and decides with it, so a
//! reload never changes the rules under a request in progress, and the lock is held only
//! for the time of one `Arc` clone (never during a decision or a file load).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant, SystemTime};

use fdbroker_policy::Policy;

use crate::privileges::Caps;
use crate::stats::Counts;
use crate::{policy_file, sandbox};

/// A loaded policy with its counters.
#[derive(Debug)]
pub struct Live {
    /// The rules.
    pub policy: Policy,
    /// What they decided since it was loaded.
    pub counts: Counts,
    /// When it was loaded.
    pub loaded_at: SystemTime,
    /// Which load this is: a number no other load in this process has (never 0).
    pub serial: u64,
    /// The gids its rules name ([`Policy::named_gids`]): of a client's groups, only these
    /// are kept (see [`crate::peer`]).
    pub gids: Vec<u32>,
}

/// The serial of the last policy loaded.
static SERIAL: AtomicU64 = AtomicU64::new(0);

impl Live {
    fn new(policy: Policy) -> Live {
        let counts = Counts::new(policy.rules().len());
        Live {
            gids: policy.named_gids(),
            policy,
            counts,
            loaded_at: SystemTime::now(),
            serial: SERIAL.fetch_add(1, Ordering::Relaxed) + 1,
        }
    }
}

/// The policy in force, and where it came from.
#[derive(Debug)]
pub struct PolicyStore {
    /// "policy", or "shadow policy", for log lines.
    label: &'static str,
    file: PathBuf,
    current: RwLock<Arc<Live>>,
    /// What the broker kept at start; a reload cannot win back more.
    bounds: OnceLock<Bounds>,
}

/// The privileges fixed at start, which every reloaded policy must fit in.
#[derive(Debug)]
pub struct Bounds {
    /// The capabilities kept.
    pub caps: Caps,
    /// The reach the Landlock ruleset was built from, when Landlock is enforced.
    pub reach: Option<sandbox::Placed>,
}

impl PolicyStore {
    /// Wraps the policy loaded at start from `file`.
    pub fn new(file: PathBuf, policy: Policy) -> PolicyStore {
        PolicyStore::labelled("policy", file, policy)
    }

    /// Wraps a shadow policy (`serve --shadow-policy`): decided alongside the live one,
    /// never granting anything.
    pub fn shadow(file: PathBuf, policy: Policy) -> PolicyStore {
        PolicyStore::labelled("shadow policy", file, policy)
    }

    fn labelled(label: &'static str, file: PathBuf, policy: Policy) -> PolicyStore {
        PolicyStore {
            label,
            file,
            current: RwLock::new(Arc::new(Live::new(policy))),
            bounds: OnceLock::new(),
        }
    }

    /// Records the privileges kept at start (once: they never grow).
    pub fn set_bounds(&self, bounds: Bounds) {
        let _ = self.bounds.set(bounds);
    }

    /// The policy file.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The policy in force now. Hold it only for a request: see [`free_here`].
    pub fn current(&self) -> Arc<Live> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Re-reads the policy file. A file that does not load, or whose grants would need a
    /// capability dropped at start, is refused and the old policy stays, with the reason
    /// logged: refusing is safer than a policy that silently fails some of its grants.
    pub fn reload(&self) {
        let file = self.file.display();
        let policy = match policy_file::load(&self.file) {
            Ok(policy) => policy,
            Err(e) => {
                let label = self.label;
                return log::error!("{label} reload failed, keeping the previous {label}:\n{e}");
            }
        };
        if let Some(bounds) = self.bounds.get() {
            let missing = Caps::needed_for(policy.granted()).missing_from(&bounds.caps);
            if !missing.is_empty() {
                return log::error!(
                    "policy reload refused, keeping the previous policy: {file} needs {missing}, \
                     dropped at start; restart the broker to grant it"
                );
            }
            if let Some(Err(beyond)) = bounds.reach.as_ref().map(|r| r.covers(&policy.reach())) {
                return log::error!(
                    "policy reload refused, keeping the previous policy: {file} grants {beyond}, \
                     outside the Landlock ruleset set at start; restart the broker to grant it"
                );
            }
        }
        let rules = policy.rules().len();
        let new = Arc::new(Live::new(policy));
        let old = std::mem::replace(
            &mut *self.current.write().unwrap_or_else(|e| e.into_inner()),
            new,
        );
        log::info!("{} reloaded from {file}: {rules} rules", self.label);
        free_here(old);
    }
}

/// How long a reload waits for requests in flight to let go of the policy it replaced.
const RELEASE_WAIT: Duration = Duration::from_millis(100);

/// Frees a replaced policy on the calling (reloader) thread once requests in flight have
/// let go of it. Freeing a large policy takes milliseconds; whichever holder dropped it
/// last would pay that, and if that were a request, its client would wait. A request
/// stuck longer than [`RELEASE_WAIT`] is left to free it.
fn free_here(mut old: Arc<Live>) {
    let deadline = Instant::now() + RELEASE_WAIT;
    loop {
        match Arc::try_unwrap(old) {
            Ok(live) => return drop(live),
            Err(held) if Instant::now() < deadline => {
                old = held;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(_) => return,
        }
    }
}
