//! Validates one `[[rule]]` table into a [`Rule`], reporting every problem in it.

use std::ops::Range;

use toml::de::{DeTable, DeValue};

use crate::identity::Identity;
use crate::pattern::Pattern;
use crate::rule::{DEFAULT_CREATE_MODE, Rule};
use crate::subjects::Subjects;
use crate::walk::{self, Errors};
use crate::{Access, Effect, NameResolver, UnknownAccessWord};

/// The keys a `[[rule]]` may have.
const KEYS: [&str; 10] = [
    "name",
    "users",
    "groups",
    "paths",
    "access",
    "effect",
    "create_mode",
    "units",
    "executables",
    "user_namespaces",
];

/// Validates `table`, the rule whose `[[rule]]` header is at byte range `header`. Returns the
/// rule if it has no error; either way every error found is added to `errors`. Duplicate names
/// are the caller's concern: they need the other rules.
pub(crate) fn parse_rule(
    errors: &mut Errors<'_>,
    table: &DeTable<'_>,
    header: Range<usize>,
    names: &dyn NameResolver,
) -> Option<Rule> {
    let errors_before = errors.count();
    walk::unknown_keys(errors, table, "in a [[rule]]", &KEYS);
    let mut required = |key: &str| {
        let value = table.get(key);
        if value.is_none() {
            errors.at(
                header.clone(),
                format!("missing required key `{key}` in this [[rule]]"),
            );
        }
        value
    };
    let (name, paths, access) = (required("name"), required("paths"), required("access"));

    let name = name.and_then(|v| match walk::string(errors, "name", v) {
        Some("") => {
            errors.at(v.span(), "`name` must not be empty");
            None
        }
        name => name,
    });

    let mut subjects = Subjects::default();
    let (users, groups) = (table.get("users"), table.get("groups"));
    if let Some(users) = users {
        subjects.add_users(errors, users, names);
    }
    if let Some(groups) = groups {
        subjects.add_groups(errors, groups, names);
    }
    if users.is_none() && groups.is_none() {
        let msg = "this [[rule]] applies to nobody: it needs `users` or `groups` \
                   (write users = [\"*\"] for every user)";
        errors.at(header.clone(), msg);
    }

    let mut identity = Identity::default();
    if let Some(units) = table.get("units") {
        identity.add_units(errors, units);
    }
    if let Some(executables) = table.get("executables") {
        identity.add_executables(errors, executables);
    }

    let items = paths.and_then(|v| walk::list(errors, "paths", "path pattern", v));
    let patterns: Vec<Pattern> = items
        .unwrap_or_default()
        .iter()
        .filter_map(|item| match walk::string(errors, "paths", item) {
            Some(text) => Pattern::parse(text)
                .map_err(|e| errors.at(item.span(), e))
                .ok(),
            None => None,
        })
        .collect();

    let items = access.and_then(|v| walk::list(errors, "access", "access word", v));
    let mut granted = Access::empty();
    for item in items.unwrap_or_default() {
        match walk::string(errors, "access", item).map(|w| (w, Access::from_word(w))) {
            Some((_, Some(bit))) => granted |= bit,
            Some((word, None)) => {
                errors.at(item.span(), UnknownAccessWord(word.into()).to_string())
            }
            None => {}
        }
    }

    let effect = match table.get("effect") {
        None => Effect::Allow,
        Some(v) => match walk::string(errors, "effect", v) {
            Some("allow") => Effect::Allow,
            Some("deny") => Effect::Deny,
            Some(other) => {
                let hint = match fdbroker_wire::suggest(other, ["allow", "deny"]) {
                    Some(meant) => format!("did you mean {meant:?}?"),
                    None => "expected \"allow\" or \"deny\"".to_owned(),
                };
                errors.at(v.span(), format!("unknown effect {other:?} ({hint})"));
                Effect::Allow
            }
            None => Effect::Allow,
        },
    };

    if let Some(value) = table.get("user_namespaces") {
        identity.set_user_namespaces(errors, value, effect == Effect::Deny);
    }

    let create_mode = match table.get_key_value("create_mode") {
        None => DEFAULT_CREATE_MODE,
        Some((key, _)) if effect == Effect::Deny => {
            let msg = "`create_mode` has no meaning in a deny rule: remove it";
            errors.at(key.span(), msg);
            DEFAULT_CREATE_MODE
        }
        Some((_, v)) => create_mode(errors, v).unwrap_or(DEFAULT_CREATE_MODE),
    };

    if errors.count() > errors_before {
        return None;
    }
    Some(Rule {
        name: name?.to_owned(),
        index: 0,
        line: errors.line_of(header.start),
        effect,
        subjects,
        paths: patterns,
        access: granted,
        decides: Rule::decided_words(effect, granted),
        create_mode,
        identity,
    })
}

/// The value of `create_mode`: an octal integer no larger than `0o777`. Octal is required
/// because a decimal mode such as `400` silently means `0o620`.
fn create_mode(errors: &mut Errors<'_>, value: &walk::Value<'_>) -> Option<u32> {
    let DeValue::Integer(n) = value.get_ref() else {
        walk::wrong_type(
            errors,
            "create_mode",
            "an octal integer such as 0o640",
            value,
        );
        return None;
    };
    let message = if n.radix() != 8 {
        format!("`create_mode` must be written in octal, such as 0o640 (found {n})")
    } else {
        match walk::integer(n).and_then(|m| u32::try_from(m).ok()) {
            Some(mode) if mode <= 0o777 => return Some(mode),
            _ => format!("`create_mode` {n} is out of range (at most 0o777)"),
        }
    };
    errors.at(value.span(), message);
    None
}

#[cfg(test)]
mod tests {
    use crate::testing::{errors, one_rule, policy};
    use crate::{Access, Effect};

    /// Checks cases written `EXTRA => LINE:COL: message`: the errors of [`one_rule`] with
    /// `EXTRA` (`\n` for a newline) are exactly that one.
    fn check(cases: &[&str]) {
        for case in cases {
            let (extra, expected) = case.split_once(" => ").expect("EXTRA => ERROR");
            let text = one_rule(&[], &format!("{}\n", extra.replace("\\n", "\n")));
            assert_eq!(errors(&text), [expected], "{extra}");
        }
    }

    #[test]
    fn a_valid_rule_has_its_values_and_defaults() {
        let p = policy(&one_rule(&[], ""));
        let r = &p.rules()[0];
        assert_eq!((r.name(), r.line(), r.effect()), ("r", 2, Effect::Allow));
        assert_eq!((r.access(), r.create_mode()), (Access::READ, 0o600));

        let extra = "access = [\"write\", \"create\", \"write\"]\neffect = \"allow\"\ncreate_mode = 0o640\n";
        let p = policy(&one_rule(&[], extra));
        let r = &p.rules()[0];
        let expected = (Access::WRITE | Access::CREATE, Effect::Allow, 0o640);
        assert_eq!((r.access(), r.effect(), r.create_mode()), expected);

        let p = policy(&one_rule(&[], "effect = \"deny\"\n"));
        assert_eq!(p.rules()[0].effect(), Effect::Deny);
        let p = policy(&one_rule(&["users"], "groups = [\"staff\"]\n"));
        assert_eq!(p.rules().len(), 1);
    }

    #[test]
    fn missing_required_keys_are_reported_at_the_header() {
        for key in ["name", "paths", "access"] {
            let expected = format!("2:1: missing required key `{key}` in this [[rule]]");
            assert_eq!(errors(&one_rule(&[key], "")), [expected]);
        }
        assert_eq!(
            errors(&one_rule(&["users"], "")),
            [
                "2:1: this [[rule]] applies to nobody: it needs `users` or `groups` (write users = [\"*\"] for every user)"
            ]
        );
    }

    #[test]
    fn wrong_types_and_empty_values_are_reported_at_the_value() {
        check(&[
            "name = 5 => 6:8: `name` must be a string, not an integer",
            "name = \"\" => 6:8: `name` must not be empty",
            "users = \"*\" => 6:9: `users` must be an array of users, not a string",
            "users = [] => 6:9: `users` is empty: list at least one user",
            "groups = [] => 7:10: `groups` is empty: list at least one group",
            "groups = [{}] => 7:11: expected a group name or a numeric gid, not a table",
            "paths = [] => 6:9: `paths` is empty: list at least one path pattern",
            "paths = [\"/a\", 7] => 6:16: `paths` must be a string, not an integer",
            "access = \"read\" => 6:10: `access` must be an array of access words, not a string",
            "access = [true] => 6:11: `access` must be a string, not a boolean",
            "access = [] => 6:10: `access` is empty: list at least one access word",
            "effect = true => 7:10: `effect` must be a string, not a boolean",
            "create_mode = \"0640\" => 7:15: `create_mode` must be an octal integer such as 0o640, not a string",
        ]);
    }

    #[test]
    fn unknown_keys_words_and_effects_are_named() {
        check(&[
            "comment = \"x\" => 7:1: unknown key \"comment\" in a [[rule]] (expected name, users, groups, paths, access, effect, create_mode, units, executables, user_namespaces)",
            "path = [\"/y\"] => 7:1: unknown key \"path\" in a [[rule]] (did you mean \"paths\"?)",
            "create-mode = 0o640 => 7:1: unknown key \"create-mode\" in a [[rule]] (did you mean \"create_mode\"?)",
            "effect = \"permit\" => 7:10: unknown effect \"permit\" (expected \"allow\" or \"deny\")",
            "effect = \"Deny\" => 7:10: unknown effect \"Deny\" (did you mean \"deny\"?)",
            "effect = \"alow\" => 7:10: unknown effect \"alow\" (did you mean \"allow\"?)",
        ]);
        assert_eq!(
            errors(&one_rule(&[], "access = [\"read\", \"Write\", \"exec\"]\n")),
            [
                "6:19: unknown access word \"Write\" (did you mean \"write\"?)",
                "6:28: unknown access word \"exec\" (expected read, write, create, create_new, truncate or list)",
            ]
        );
    }

    /// `append` cannot be enforced on an fd, so a policy naming it says why, in any rule.
    #[test]
    fn append_is_refused_with_the_reason() {
        for extra in ["", "effect = \"deny\"\n"] {
            let text = one_rule(&[], &format!("access = [\"append\"]\n{extra}"));
            let errors = errors(&text);
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert!(errors[0].starts_with("6:11: `append` is not an access word"));
            assert!(errors[0].contains("F_SETFL") && errors[0].ends_with("`write` instead"));
        }
    }

    #[test]
    fn bad_patterns_are_reported_at_the_pattern() {
        let text = one_rule(&[], "paths = [\"/ok/**\", \"/a//b\",\n  \"/c/\"]\n");
        assert_eq!(
            errors(&text),
            [
                "6:20: path pattern \"/a//b\" has an empty component (\"//\")",
                "7:3: path pattern \"/c/\" ends with \"/\" (write \"/c\")",
            ]
        );
    }

    #[test]
    fn create_mode_must_be_octal_at_most_0o777_and_only_in_allow_rules() {
        check(&[
            "effect = \"deny\"\\ncreate_mode = 0o640 => 8:1: `create_mode` has no meaning in a deny rule: remove it",
            "create_mode = 400 => 7:15: `create_mode` must be written in octal, such as 0o640 (found 400)",
            "create_mode = 0x1ff => 7:15: `create_mode` must be written in octal, such as 0o640 (found 0x1ff)",
            "create_mode = 0o1000 => 7:15: `create_mode` 0o1000 is out of range (at most 0o777)",
        ]);
        let mode = |m: &str| {
            policy(&one_rule(&[], &format!("create_mode = {m}\n"))).rules()[0].create_mode()
        };
        assert_eq!(
            (mode("0o777"), mode("0o0"), mode("0o0_644")),
            (0o777, 0, 0o644)
        );
    }
}
