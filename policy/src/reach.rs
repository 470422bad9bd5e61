//! Where a policy can reach: the part of the file system its allow rules could ever grant,
//! for the broker to confine itself to (Landlock).

use std::collections::HashSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::{Access, Effect, Policy};

impl Policy {
    /// For each pattern of each allow rule, its root — the pattern's leading literal
    /// components, up to the first one with a wildcard (`/srv/up/*.txt` → `/srv/up`; a
    /// pattern without wildcards is its own root) — with the rule's access words.
    /// Everything this policy can allow lies beneath one of these roots, with those words.
    /// Each (root, access) pair appears once, in the order of first appearance.
    pub fn reach(&self) -> Vec<(PathBuf, Access)> {
        let mut seen = HashSet::new();
        let mut reach = Vec::new();
        for rule in self.rules().iter().filter(|r| r.effect() == Effect::Allow) {
            for pattern in &rule.paths {
                let mut root = PathBuf::from("/");
                for component in pattern.leading_literals() {
                    root.push(OsStr::from_bytes(component));
                }
                if seen.insert((root.clone(), rule.access())) {
                    reach.push((root, rule.access()));
                }
            }
        }
        reach
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use crate::Access;
    use crate::testing::policy;

    #[test]
    fn roots_stop_at_the_first_wildcard_and_skip_deny_rules() {
        let p = policy(
            r#"version = 1
[[rule]]
name = "a"
users = [1]
paths = ["/srv/up/**", "/srv/up/*.txt", "/srv/exact/file", "/*/x", "/srv/a*b/c"]
access = ["read"]
[[rule]]
name = "d"
users = [1]
paths = ["/etc/**"]
access = ["read"]
effect = "deny"
"#,
        );
        let roots: Vec<(PathBuf, Access)> = ["/srv/up", "/srv/exact/file", "/", "/srv"]
            .iter()
            .map(|r| (PathBuf::from(r), Access::READ))
            .collect();
        assert_eq!(p.reach(), roots);
    }
}
