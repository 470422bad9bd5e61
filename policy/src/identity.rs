//! What a rule may require of the client's process besides its uid and groups: the
//! `units` and `executables` keys, checked at load and matched against the [`Process`] the
//! broker read for the client; and `user_namespaces`, which lets an allow rule grant to
//! clients in user namespaces (see [`crate::Namespace`]).

use crate::Process;
use crate::process::is_unit_name;
use crate::walk::{self, Errors, Value};

/// The process fields a rule names. Empty lists name nothing: such a rule applies to
/// clients by their credentials alone, as before these keys existed.
#[derive(Debug, Default)]
pub(crate) struct Identity {
    units: Vec<String>,
    executables: Vec<String>,
    /// `user_namespaces = true`: the rule may grant to a client in a user namespace other
    /// than the broker's (allow rules only).
    pub(crate) user_namespaces: bool,
}

impl Identity {
    /// True if the rule names a unit or an executable.
    pub(crate) fn names_any(&self) -> bool {
        !self.units.is_empty() || !self.executables.is_empty()
    }

    /// True if every field the rule names matches `process`. A rule that names a field
    /// never matches a client whose process is unknown (`None`) or lacks that field: an
    /// identity that could not be established never satisfies a rule, allow or deny.
    pub(crate) fn matches(&self, process: Option<&Process>) -> bool {
        if !self.names_any() {
            return true;
        }
        let Some(process) = process else {
            return false;
        };
        let unit = self.units.is_empty()
            || process
                .unit
                .as_deref()
                .is_some_and(|u| self.units.iter().any(|w| w == u));
        let exe = self.executables.is_empty()
            || process
                .exe
                .as_deref()
                .is_some_and(|e| self.executables.iter().any(|w| w.as_bytes() == e));
        unit && exe
    }

    /// The units listed in `units`, in file order.
    pub(crate) fn units(&self) -> &[String] {
        &self.units
    }

    /// The executables listed in `executables`, in file order.
    pub(crate) fn executables(&self) -> &[String] {
        &self.executables
    }

    /// Adds the entries of a `units` array, reporting each that is not a service or scope
    /// name.
    pub(crate) fn add_units(&mut self, errors: &mut Errors<'_>, value: &Value<'_>) {
        for item in walk::list(errors, "units", "unit", value).unwrap_or_default() {
            let Some(unit) = walk::string(errors, "units", item) else {
                continue;
            };
            if is_unit_name(unit) {
                self.units.push(unit.to_owned());
            } else {
                let hint = if unit.contains('/') {
                    " (a unit name, not a cgroup path: write only its last component)"
                } else {
                    ""
                };
                errors.at(
                    item.span(),
                    format!(
                        "unit {unit:?} is not a service or scope name such as \
                         \"clamav-daemon.service\"{hint}"
                    ),
                );
            }
        }
    }

    /// Reads `user_namespaces`, which only an allow rule may set.
    pub(crate) fn set_user_namespaces(
        &mut self,
        errors: &mut Errors<'_>,
        value: &Value<'_>,
        deny: bool,
    ) {
        match value.get_ref() {
            toml::de::DeValue::Boolean(_) if deny => errors.at(
                value.span(),
                "`user_namespaces` has no meaning in a deny rule (deny rules bind clients in \
                 user namespaces as their namespace's owner too): remove it",
            ),
            toml::de::DeValue::Boolean(admit) => self.user_namespaces = *admit,
            _ => walk::wrong_type(errors, "user_namespaces", "true or false", value),
        }
    }

    /// Adds the entries of an `executables` array, reporting each that is not an absolute,
    /// normalized path.
    pub(crate) fn add_executables(&mut self, errors: &mut Errors<'_>, value: &Value<'_>) {
        for item in walk::list(errors, "executables", "executable", value).unwrap_or_default() {
            let Some(exe) = walk::string(errors, "executables", item) else {
                continue;
            };
            match executable_problem(exe) {
                None => self.executables.push(exe.to_owned()),
                Some(problem) => errors.at(item.span(), format!("executable {exe:?} {problem}")),
            }
        }
    }
}

/// Why `exe` cannot be a path `/proc/PID/exe` shows, if it cannot: the kernel shows
/// absolute, normalized paths, so any other never matches and is surely a mistake.
fn executable_problem(exe: &str) -> Option<&'static str> {
    if !exe.starts_with('/') {
        return Some("is not an absolute path (write the full path, such as \"/usr/sbin/clamd\")");
    }
    if exe.len() == 1 || exe.ends_with('/') {
        return Some("ends with \"/\": name the executable file");
    }
    if exe.contains('\0') {
        return Some("contains a NUL byte");
    }
    let parts = exe[1..].split('/');
    if parts.clone().any(str::is_empty) {
        return Some("has an empty component (\"//\")");
    }
    if parts.clone().any(|c| c == "." || c == "..") {
        return Some("has a \".\" or \"..\" component: write the path it names");
    }
    None
}

impl std::fmt::Display for Identity {
    /// ` units=[a.service] executables=[/usr/sbin/clamd]`, each part only when named.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.units.is_empty() {
            write!(f, " units=[{}]", self.units.join(","))?;
        }
        if !self.executables.is_empty() {
            write!(f, " executables=[{}]", self.executables.join(","))?;
        }
        if self.user_namespaces {
            write!(f, " user_namespaces=true")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{errors, one_rule, policy};

    fn process(unit: Option<&str>, exe: Option<&str>) -> Process {
        Process {
            unit: unit.map(str::to_owned),
            exe: exe.map(|e| e.as_bytes().to_vec()),
            user_namespace: Default::default(),
        }
    }

    #[test]
    fn a_rule_applies_only_when_every_named_field_matches() {
        let p = policy(&one_rule(
            &[],
            "units = [\"a.service\", \"b.scope\"]\nexecutables = [\"/usr/bin/x\"]\n",
        ));
        let id = &p.rules()[0].identity;
        assert!(id.matches(Some(&process(Some("a.service"), Some("/usr/bin/x")))));
        assert!(id.matches(Some(&process(Some("b.scope"), Some("/usr/bin/x")))));
        assert!(!id.matches(Some(&process(Some("c.service"), Some("/usr/bin/x")))));
        assert!(!id.matches(Some(&process(Some("a.service"), Some("/usr/bin/y")))));
        assert!(!id.matches(Some(&process(None, Some("/usr/bin/x")))));
        assert!(!id.matches(Some(&process(Some("a.service"), None))));
        assert!(
            !id.matches(None),
            "an unknown process matches no named field"
        );

        let units_only = policy(&one_rule(&[], "units = [\"a.service\"]\n"));
        let id = &units_only.rules()[0].identity;
        assert!(id.matches(Some(&process(Some("a.service"), None))));

        let plain = policy(&one_rule(&[], ""));
        assert!(plain.rules()[0].identity.matches(None));
    }

    #[test]
    fn units_and_executables_are_checked_at_load() {
        assert_eq!(
            errors(&one_rule(
                &[],
                "units = [\"clamd\", \"/system.slice/x.service\", \".service\", 3]\n"
            )),
            [
                "7:10: unit \"clamd\" is not a service or scope name such as \"clamav-daemon.service\"",
                "7:19: unit \"/system.slice/x.service\" is not a service or scope name such as \"clamav-daemon.service\" (a unit name, not a cgroup path: write only its last component)",
                "7:46: unit \".service\" is not a service or scope name such as \"clamav-daemon.service\"",
                "7:58: `units` must be a string, not an integer",
            ]
        );
        assert_eq!(
            errors(&one_rule(
                &[],
                "executables = [\"clamd\", \"/usr//bin/x\", \"/usr/bin/\", \"/a/../b\"]\n"
            )),
            [
                "7:16: executable \"clamd\" is not an absolute path (write the full path, such as \"/usr/sbin/clamd\")",
                "7:25: executable \"/usr//bin/x\" has an empty component (\"//\")",
                "7:40: executable \"/usr/bin/\" ends with \"/\": name the executable file",
                "7:53: executable \"/a/../b\" has a \".\" or \"..\" component: write the path it names",
            ]
        );
        assert_eq!(
            errors(&one_rule(&[], "units = []\n")),
            ["7:9: `units` is empty: list at least one unit"]
        );
        assert_eq!(
            errors(&one_rule(&[], "unit = [\"a.service\"]\n")),
            ["7:1: unknown key \"unit\" in a [[rule]] (did you mean \"units\"?)"]
        );
        assert_eq!(
            errors(&one_rule(&[], "executable = [\"/bin/x\"]\n")),
            ["7:1: unknown key \"executable\" in a [[rule]] (did you mean \"executables\"?)"]
        );
    }
}
