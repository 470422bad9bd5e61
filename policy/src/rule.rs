//! One validated `[[rule]]` of a policy.

use std::fmt;

use crate::Access;
use crate::identity::Identity;
use crate::pattern::Pattern;
use crate::subjects::Subjects;

/// Whether a rule grants or refuses the access it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

impl fmt::Display for Effect {
    /// `allow` or `deny`, as written in the policy file.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Effect::Allow => "allow",
            Effect::Deny => "deny",
        })
    }
}

/// The mode mask of files created through a rule that does not set `create_mode`.
pub(crate) const DEFAULT_CREATE_MODE: u32 = 0o600;

/// A rule of a loaded policy. Every rule of a [`Policy`](crate::Policy) is valid: a non-empty
/// unique name, at least one subject, at least one path pattern and at least one access word.
#[derive(Debug)]
pub struct Rule {
    pub(crate) name: String,
    /// Position in file order, from 0.
    pub(crate) index: usize,
    pub(crate) line: u32,
    pub(crate) effect: Effect,
    pub(crate) subjects: Subjects,
    pub(crate) paths: Vec<Pattern>,
    pub(crate) access: Access,
    /// The words the rule answers for in a decision (see [`Rule::decides`]).
    pub(crate) decides: Access,
    pub(crate) create_mode: u32,
    /// The process fields (`units`, `executables`) the client must also match.
    pub(crate) identity: Identity,
}

impl Rule {
    /// The rule's `name`, unique within its policy.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The rule's `effect`.
    pub fn effect(&self) -> Effect {
        self.effect
    }

    /// The access words the rule allows or denies, as written.
    pub fn access(&self) -> Access {
        self.access
    }

    /// The access words the rule answers for when a request is decided: as written, except
    /// that a `create` grant also grants `create_new` (which creates too, and never opens
    /// a file that is there: less than `create`), and a deny rule naming either creating
    /// word denies both, so that neither gets around a deny rule written with the other.
    pub fn decides(&self) -> Access {
        self.decides
    }

    /// What [`Rule::decides`] is for a rule of `effect` naming `access`.
    pub(crate) fn decided_words(effect: Effect, access: Access) -> Access {
        let creating = Access::CREATE | Access::CREATE_NEW;
        match effect {
            Effect::Allow if access.contains(Access::CREATE) => access | Access::CREATE_NEW,
            Effect::Deny if access.intersects(creating) => access | creating,
            _ => access,
        }
    }

    /// The mask (at most `0o777`) applied to the mode of files this rule lets a client
    /// create: `create_mode` if set, else `0o600`. Deny rules cannot set it and always report
    /// the default, which means nothing for them.
    pub fn create_mode(&self) -> u32 {
        self.create_mode
    }

    /// The 1-based line of the rule's `[[rule]]` header.
    pub fn line(&self) -> u32 {
        self.line
    }

    /// The rule's position in file order, from 0 (an index for per-rule counters).
    pub fn index(&self) -> usize {
        self.index
    }

    /// The rule's path patterns, as written.
    pub fn patterns(&self) -> impl Iterator<Item = &str> {
        self.paths.iter().map(|p| p.as_str())
    }

    /// The uids the rule names in `users` (not `"*"`), resolved, in file order.
    pub fn uids(&self) -> &[u32] {
        self.subjects.uids()
    }

    /// The gids the rule names in `groups`, resolved, in file order.
    pub fn gids(&self) -> &[u32] {
        self.subjects.gids()
    }

    /// The systemd units the rule names in `units`, in file order (empty: any).
    pub fn units(&self) -> &[String] {
        self.identity.units()
    }

    /// The executables the rule names in `executables`, in file order (empty: any).
    pub fn executables(&self) -> &[String] {
        self.identity.executables()
    }

    /// `user_namespaces = true`: the rule may grant to clients in user namespaces.
    pub fn user_namespaces(&self) -> bool {
        self.identity.user_namespaces
    }

    /// The rule's process fields as ` units=[..] executables=[..] user_namespaces=true`,
    /// each only when set (empty for a rule setting none).
    pub fn identity(&self) -> &impl fmt::Display {
        &self.identity
    }

    /// Who the rule applies to, resolved to ids: `users=[*]` or `users=[0,1001]
    /// groups=[100]`.
    pub fn subjects(&self) -> &impl fmt::Display {
        &self.subjects
    }
}
