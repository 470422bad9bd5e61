//! The live policy: read by every request, replaced as a whole on reload.
//!
//! A request takes a reference to the current policy once and decides with it, so a
//! reload never changes the rules under a request in progress, and the lock is held only
//! for the time of one `Arc` clone (never during a decision or a file load).

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use fdbroker_policy::Policy;

use crate::policy_file;
use crate::privileges::Caps;

/// The policy in force, and where it came from.
#[derive(Debug)]
pub struct PolicyStore {
    file: PathBuf,
    current: RwLock<Arc<Policy>>,
    /// Capabilities kept at start; a reload cannot win back more.
    kept: RwLock<Caps>,
}

impl PolicyStore {
    /// Wraps the policy loaded at start from `file`.
    pub fn new(file: PathBuf, policy: Policy) -> PolicyStore {
        PolicyStore {
            file,
            current: RwLock::new(Arc::new(policy)),
            kept: RwLock::default(),
        }
    }

    /// Records the capabilities kept after the privilege drop.
    pub fn set_kept(&self, caps: Caps) {
        *self.kept.write().unwrap_or_else(|e| e.into_inner()) = caps;
    }

    /// The policy in force now.
    pub fn current(&self) -> Arc<Policy> {
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
                return log::error!("policy reload failed, keeping the previous policy:\n{e}");
            }
        };
        let kept = self.kept.read().unwrap_or_else(|e| e.into_inner()).clone();
        let missing = Caps::needed_for(policy.granted()).missing_from(&kept);
        if !missing.is_empty() {
            log::error!(
                "policy reload refused, keeping the previous policy: {file} needs {missing}, \
                 dropped at start; restart the broker to grant it"
            );
            return;
        }
        let rules = policy.rules().len();
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(policy);
        log::info!("policy reloaded from {file}: {rules} rules");
    }
}
