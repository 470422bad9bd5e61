//! A policy file built in code: rules read as a sentence and render to the TOML an
//! administrator would write, one key a line in the order docs/policy.md shows them.
//!
//! ```ignore
//! Policy::new()
//!     .allow("alice-reads-data").users(&[ALICE]).paths(&[format!("{data}/**")]).access("read")
//!     .deny("no-secrets").everyone().paths(&[secret]).access("read")
//!     .to_string()
//! ```
//!
//! Policies a test means to be malformed stay inline, as the text under test.

use std::fmt;

use super::run::User;

/// A whole policy: `version = 1` and its rules, in order.
#[derive(Debug, Default)]
pub struct Policy {
    rules: Vec<Rule>,
}

/// One `[[rule]]`; `None` and empty lists are keys left out.
#[derive(Debug)]
struct Rule {
    name: String,
    users: Vec<String>,
    groups: Vec<String>,
    paths: Vec<String>,
    access: Vec<String>,
    deny: bool,
    create_mode: Option<u32>,
    units: Vec<String>,
    executables: Vec<String>,
    user_namespaces: bool,
}

/// Who a `users` or `groups` entry names: a client's uid ([`User`]), a numeric id, or a
/// name (looked up by the broker; `"*"` is every uid).
pub trait Subject {
    fn toml(&self) -> String;
}

impl Subject for User {
    fn toml(&self) -> String {
        self.uid.to_string()
    }
}

impl Subject for u32 {
    fn toml(&self) -> String {
        self.to_string()
    }
}

impl Subject for &str {
    fn toml(&self) -> String {
        quoted(self)
    }
}

impl Subject for String {
    fn toml(&self) -> String {
        quoted(self)
    }
}

impl Policy {
    /// A policy with no rules yet (which denies everything).
    pub fn new() -> Policy {
        Policy::default()
    }

    /// Starts an allow rule named `name`; the calls that follow fill it in.
    pub fn allow(self, name: &str) -> Policy {
        self.rule(name, false)
    }

    /// Starts a deny rule (`effect = "deny"`) named `name`.
    pub fn deny(self, name: &str) -> Policy {
        self.rule(name, true)
    }

    fn rule(mut self, name: &str, deny: bool) -> Policy {
        self.rules.push(Rule {
            name: name.to_owned(),
            users: Vec::new(),
            groups: Vec::new(),
            paths: Vec::new(),
            access: Vec::new(),
            deny,
            create_mode: None,
            units: Vec::new(),
            executables: Vec::new(),
            user_namespaces: false,
        });
        self
    }

    /// The current rule's `users`.
    pub fn users<S: Subject>(mut self, users: &[S]) -> Policy {
        self.last().users.extend(users.iter().map(Subject::toml));
        self
    }

    /// The current rule applies to every uid: `users = ["*"]`.
    pub fn everyone(self) -> Policy {
        self.users(&["*"])
    }

    /// The current rule's `groups` (gids or names).
    pub fn groups<S: Subject>(mut self, groups: &[S]) -> Policy {
        self.last().groups.extend(groups.iter().map(Subject::toml));
        self
    }

    /// The current rule's `paths`, taken literally (patterns included).
    pub fn paths<P: AsRef<str>>(mut self, paths: &[P]) -> Policy {
        self.last()
            .paths
            .extend(paths.iter().map(|p| quoted(p.as_ref())));
        self
    }

    /// The current rule's `access`, as comma-separated words: `"read,list"`.
    pub fn access(mut self, words: &str) -> Policy {
        self.last()
            .access
            .extend(words.split(',').map(|w| quoted(w.trim())));
        self
    }

    /// The current rule's `create_mode`, rendered in octal.
    pub fn create_mode(mut self, mode: u32) -> Policy {
        self.last().create_mode = Some(mode);
        self
    }

    /// The current rule's `units` (systemd unit names).
    pub fn units<U: AsRef<str>>(mut self, units: &[U]) -> Policy {
        self.last()
            .units
            .extend(units.iter().map(|u| quoted(u.as_ref())));
        self
    }

    /// The current rule's `executables` (absolute paths).
    pub fn executables<P: AsRef<std::path::Path>>(mut self, exes: &[P]) -> Policy {
        let quote = |p: &P| quoted(&p.as_ref().to_string_lossy());
        self.last().executables.extend(exes.iter().map(quote));
        self
    }

    /// The current rule admits clients in user namespaces: `user_namespaces = true`.
    pub fn user_namespaces(mut self) -> Policy {
        self.last().user_namespaces = true;
        self
    }

    #[track_caller]
    fn last(&mut self) -> &mut Rule {
        self.rules
            .last_mut()
            .expect("start a rule with allow() or deny() first")
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "version = 1")?;
        for rule in &self.rules {
            writeln!(f, "\n[[rule]]\nname = {}", quoted(&rule.name))?;
            let lists = [
                ("users", &rule.users),
                ("groups", &rule.groups),
                ("paths", &rule.paths),
                ("access", &rule.access),
            ];
            for (key, values) in lists {
                if !values.is_empty() {
                    writeln!(f, "{key} = [{}]", values.join(", "))?;
                }
            }
            if rule.deny {
                writeln!(f, "effect = \"deny\"")?;
            }
            if let Some(mode) = rule.create_mode {
                writeln!(f, "create_mode = 0o{mode:o}")?;
            }
            for (key, values) in [("units", &rule.units), ("executables", &rule.executables)] {
                if !values.is_empty() {
                    writeln!(f, "{key} = [{}]", values.join(", "))?;
                }
            }
            if rule.user_namespaces {
                writeln!(f, "user_namespaces = true")?;
            }
        }
        Ok(())
    }
}

/// `s` as a TOML basic string.
fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[test]
fn renders_the_toml_an_administrator_writes() {
    let scanners: u32 = 2100;
    let policy = Policy::new()
        .allow("scanner")
        .users(&[User {
            uid: 2001,
            gid: 2001,
            groups: &[],
        }])
        .groups(&[scanners])
        .paths(&["/srv/up/**"])
        .access("read,list")
        .deny("held")
        .everyone()
        .paths(&["/srv/up/held/**", "/srv/\"q\"\\"])
        .access("read")
        .allow("drop")
        .groups(&["ingest"])
        .paths(&["/srv/spool/*.eml"])
        .access("write, create")
        .create_mode(0o640);
    assert_eq!(
        policy.to_string(),
        r#"version = 1

[[rule]]
name = "scanner"
users = [2001]
groups = [2100]
paths = ["/srv/up/**"]
access = ["read", "list"]

[[rule]]
name = "held"
users = ["*"]
paths = ["/srv/up/held/**", "/srv/\"q\"\\"]
access = ["read"]
effect = "deny"

[[rule]]
name = "drop"
groups = ["ingest"]
paths = ["/srv/spool/*.eml"]
access = ["write", "create"]
create_mode = 0o640
"#
    );
}

#[test]
fn a_policy_without_rules_is_only_the_version() {
    assert_eq!(Policy::new().to_string(), "version = 1\n");
}
