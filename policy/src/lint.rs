//! Warnings about valid but risky policies, for `fdbroker check --verbose`: grants whose
//! reach is surprising, and rules that cannot matter. A warning never rejects a policy.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::{Access, Effect, Policy, Rule};

/// Trees a `**` grant should not cover: the whole system, its configuration and secrets,
/// the kernel's pseudo-files (some never end, like `/proc/kmsg`), devices, home
/// directories.
const SENSITIVE: [&str; 7] = ["/", "/etc", "/proc", "/sys", "/dev", "/root", "/home"];

/// A warning about one rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The 1-based line of the rule's `[[rule]]` header.
    pub line: u32,
    /// What is risky, for the administrator.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: warning: {}", self.line, self.message)
    }
}

impl Policy {
    /// What looks risky or pointless in this policy, in file order.
    pub fn warnings(&self) -> Vec<Warning> {
        let mut warnings = Vec::new();
        for rule in self.rules() {
            let mut warn = |message: String| {
                warnings.push(Warning {
                    line: rule.line(),
                    message,
                })
            };
            let name = rule.name();
            if rule.effect() == Effect::Deny {
                if !self.rules().iter().any(|allow| may_overlap(rule, allow)) {
                    warn(format!(
                        "deny rule {name:?} overlaps no allow rule: it changes nothing"
                    ));
                }
                continue;
            }
            for (pattern, root) in rule.patterns().zip(rule.roots()) {
                if pattern.split('/').any(|c| c == "**") && sensitive(&root) {
                    let access = rule.access();
                    warn(format!(
                        "rule {name:?} grants {access} on everything under {} ({pattern})",
                        root.display()
                    ));
                }
            }
            let writes = Access::WRITE | Access::CREATE | Access::CREATE_NEW | Access::TRUNCATE;
            if rule.subjects.any_user() && rule.access().intersects(writes) {
                let access = rule.access() & writes;
                warn(format!(
                    "rule {name:?} grants {access} to every user (users = [\"*\"])"
                ));
            }
        }
        warnings
    }
}

/// True if `root` is a sensitive tree, or a home directory (`/home/alice`).
fn sensitive(root: &Path) -> bool {
    SENSITIVE.iter().any(|s| root == Path::new(s)) || root.parent() == Some(Path::new("/home"))
}

/// Whether deny rule `deny` can ever refuse something allow rule `allow` would grant:
/// some access word in common, subjects that may meet (a group may contain any user, so
/// only two disjoint id lists of the same kind are known not to), and pattern roots on
/// one line (one beneath the other). Conservative: "no" only when certain.
fn may_overlap(deny: &Rule, allow: &Rule) -> bool {
    allow.effect() == Effect::Allow
        && deny.decides().intersects(allow.decides())
        && deny.subjects.may_meet(&allow.subjects)
        && deny
            .roots()
            .any(|d| allow.roots().any(|a| on_one_line(&d, &a)))
}

fn on_one_line(a: &PathBuf, b: &PathBuf) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

#[cfg(test)]
mod tests {
    use crate::testing::policy;

    fn warnings(text: &str) -> Vec<String> {
        policy(text)
            .warnings()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn broad_grants_and_world_writes_are_flagged() {
        let w = warnings(
            r#"version = 1
[[rule]]
name = "etc"
users = [1]
paths = ["/etc/**", "/srv/**", "/home/alice/**", "/home/*/x"]
access = ["read"]
[[rule]]
name = "drop"
users = ["*"]
paths = ["/srv/drop/*"]
access = ["write", "create"]
"#,
        );
        assert_eq!(
            w,
            [
                "2: warning: rule \"etc\" grants read on everything under /etc (/etc/**)",
                "2: warning: rule \"etc\" grants read on everything under /home/alice (/home/alice/**)",
                "7: warning: rule \"drop\" grants write,create to every user (users = [\"*\"])",
            ]
        );
    }

    #[test]
    fn a_deny_that_cannot_meet_any_allow_is_flagged() {
        let w = warnings(
            r#"version = 1
[[rule]]
name = "read-srv"
users = [1]
paths = ["/srv/**"]
access = ["read"]
[[rule]]
name = "useful"
groups = [50]
paths = ["/srv/secret/**"]
access = ["read"]
effect = "deny"
[[rule]]
name = "other-tree"
users = [1]
paths = ["/opt/**"]
access = ["read"]
effect = "deny"
[[rule]]
name = "other-access"
users = [1]
paths = ["/srv/**"]
access = ["write"]
effect = "deny"
[[rule]]
name = "other-user"
users = [2]
paths = ["/srv/x"]
access = ["read"]
effect = "deny"
"#,
        );
        assert_eq!(
            w,
            [
                "13: warning: deny rule \"other-tree\" overlaps no allow rule: it changes nothing",
                "19: warning: deny rule \"other-access\" overlaps no allow rule: it changes nothing",
                "25: warning: deny rule \"other-user\" overlaps no allow rule: it changes nothing",
            ]
        );
    }
}
