//! The live policy: read by every request, replaced as a whole on reload.
//!
//! A request takes a reference to the current policy once and decides with it, so a
//! reload never changes the rules under a request in progress, and the lock is held only
//! for the time of one `Arc` clone (never during a decision or a file load).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant, SystemTime};

use fdbroker_policy::Policy;
use fdbroker_wire::{ReloadResult, clip_message_text};

use super::file;
use super::inactive::Inactive;
use super::stats::Counts;
use crate::count::count;
use crate::keeper::{Keeper, KeptPolicy};
use crate::resolver::Resolver;
use crate::startup::privileges::Caps;
use crate::startup::sandbox;

/// A loaded policy with its counters.
#[derive(Debug)]
pub struct Live {
    /// The rules.
    pub policy: Policy,
    /// What they decided since it was loaded.
    pub counts: Counts,
    /// When it was loaded.
    pub loaded_at: SystemTime,
    /// Its allow rules that serve nothing, with why.
    pub inactive: Inactive,
    /// Which load this is: a number no other load in this process has (never 0).
    pub serial: u64,
    /// The gids its rules name ([`Policy::named_gids`]): of a client's groups, only these
    /// are kept (see [`crate::server::peer`]).
    pub gids: Vec<u32>,
}

/// The serial of the last policy loaded.
static SERIAL: AtomicU64 = AtomicU64::new(0);

impl Live {
    fn new(policy: Policy, inactive: Inactive) -> Live {
        let counts = Counts::new(policy.rules().len());
        Live {
            gids: policy.named_gids(),
            policy,
            counts,
            loaded_at: SystemTime::now(),
            inactive,
            serial: SERIAL.fetch_add(1, Ordering::Relaxed) + 1,
        }
    }
}

/// One reload attempt: kept, not only logged, so that `Status` and `fdbroker reload` can
/// tell an administrator that the policy they edited is not the one in force.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// When it ended.
    pub at: SystemTime,
    /// What came of it.
    pub result: ReloadResult,
    /// The first line of why it was not taken (clipped to fit a reply); empty when the
    /// new policy is in force.
    pub error: String,
}

impl Attempt {
    fn new(result: ReloadResult, error: &str) -> Attempt {
        let first_line = error.lines().next().unwrap_or_default();
        Attempt {
            at: SystemTime::now(),
            result,
            error: clip_message_text(first_line).to_owned(),
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
    /// Resolves the names of a reloaded policy.
    names: Arc<Resolver>,
    /// What the broker kept at start; a reload cannot win back more.
    bounds: OnceLock<Bounds>,
    /// Opens the file for a reload when the broker, run as another user, may not.
    keeper: OnceLock<(Arc<Keeper>, KeptPolicy)>,
    /// The last reload attempt since start.
    last_attempt: Mutex<Option<Attempt>>,
}

/// The privileges fixed at start, which every reloaded policy must fit in.
#[derive(Debug)]
pub struct Bounds {
    /// The capabilities kept.
    pub caps: Caps,
    /// Where the Landlock ruleset placed the policy's roots, and which it found unusable.
    pub placed: sandbox::Placed,
    /// Whether Landlock is enforced: then a reload must lie within the placed roots.
    pub confined: bool,
    /// Whether Landlock holds the truncate right (see [`sandbox::holdable`]).
    pub truncate_right: bool,
}

impl PolicyStore {
    /// Wraps the policy loaded at start from `file`, with its `inactive` rules; reloads
    /// resolve names with `names`.
    pub fn new(
        file: PathBuf,
        policy: Policy,
        inactive: Inactive,
        names: Arc<Resolver>,
    ) -> PolicyStore {
        PolicyStore::labelled("policy", file, policy, inactive, names)
    }

    /// Wraps a shadow policy (`serve --shadow-policy`): decided alongside the live one,
    /// never granting anything.
    pub fn shadow(file: PathBuf, policy: Policy, names: Arc<Resolver>) -> PolicyStore {
        PolicyStore::labelled("shadow policy", file, policy, Inactive::default(), names)
    }

    fn labelled(
        label: &'static str,
        file: PathBuf,
        policy: Policy,
        inactive: Inactive,
        names: Arc<Resolver>,
    ) -> PolicyStore {
        PolicyStore {
            label,
            file,
            current: RwLock::new(Arc::new(Live::new(policy, inactive))),
            names,
            bounds: OnceLock::new(),
            keeper: OnceLock::new(),
            last_attempt: Mutex::new(None),
        }
    }

    /// Records the privileges kept at start (once: they never grow).
    pub fn set_bounds(&self, bounds: Bounds) {
        let _ = self.bounds.set(bounds);
    }

    /// From now on (once: the broker never goes back to root), reads the file for a
    /// reload through `keeper`, which opens it as `which`: the broker no longer may.
    pub fn read_through(&self, keeper: Arc<Keeper>, which: KeptPolicy) {
        let _ = self.keeper.set((keeper, which));
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

    /// The last reload attempt since start, if there was one.
    pub fn last_attempt(&self) -> Option<Attempt> {
        self.last_attempt
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Re-reads the policy file, and records and returns what came of it. A file that does
    /// not load (or whose names the resolver cannot answer for), or whose grants would need
    /// a capability dropped at start, reach beyond the Landlock ruleset or need a right the
    /// kernel lacks, is refused and the old policy stays, with the reason logged: refusing
    /// is safer than a policy that silently fails some of its grants. Its rules with a root
    /// found unusable at start are inactive, as they were.
    pub fn reload(&self) -> Attempt {
        let attempt = self.try_reload();
        *self.last_attempt.lock().unwrap_or_else(|e| e.into_inner()) = Some(attempt.clone());
        attempt
    }

    fn try_reload(&self) -> Attempt {
        let file = self.file.display();
        let open = |path: &Path| match self.keeper.get() {
            Some((keeper, which)) => keeper.open_policy(*which),
            None => file::open_here(path),
        };
        let policy = match file::load_resolved(&self.file, &open, &self.names) {
            Ok(policy) => policy,
            Err(e) => {
                let label = self.label;
                log::error!("{label} reload failed, keeping the previous {label}:\n{e}");
                return Attempt::new(ReloadResult::Invalid, &e);
            }
        };
        let mut inactive = Inactive::default();
        if let Some(bounds) = self.bounds.get() {
            let missing = Caps::needed_for(policy.granted()).missing_from(&bounds.caps);
            if !missing.is_empty() {
                let why = format!(
                    "{file} needs {missing}, which the broker did not keep at start (its \
                     policy then did not need it); restart the broker to grant it \
                     (`{RESTART}`)"
                );
                log::error!("policy reload refused, keeping the previous policy: {why}");
                return Attempt::new(ReloadResult::NeedsRestart, &why);
            }
            if let Err(why) = sandbox::holdable(&policy, bounds.truncate_right) {
                // No restart helps: the kernel lacks the right.
                let why = format!("{file}: {why}");
                log::error!("policy reload refused, keeping the previous policy: {why}");
                return Attempt::new(ReloadResult::Invalid, &why);
            }
            match bounds.placed.inactive(&policy, bounds.confined) {
                Ok(rules) => inactive = Inactive::new(rules, policy.rules().len()),
                Err(beyond) => {
                    let why = format!(
                        "{file} grants {beyond}, outside the Landlock ruleset set at start; \
                         restart the broker to grant it (`{RESTART}`)"
                    );
                    log::error!("policy reload refused, keeping the previous policy: {why}");
                    return Attempt::new(ReloadResult::NeedsRestart, &why);
                }
            }
        }
        inactive.warn();
        let rules = count(policy.rules().len(), "rule");
        let new = Arc::new(Live::new(policy, inactive));
        let old = std::mem::replace(
            &mut *self.current.write().unwrap_or_else(|e| e.into_inner()),
            new,
        );
        log::info!("{} reloaded from {file}: {rules}", self.label);
        free_here(old);
        Attempt::new(ReloadResult::InForce, "")
    }
}

/// How to restart the packaged service, for the messages of a reload that needs it.
const RESTART: &str = "systemctl restart fdbroker";

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
