//! Parses a whole policy text: TOML syntax, the top-level keys, and the list of rules.

use std::collections::HashMap;

use toml::de::{DeTable, DeValue};

use crate::parse_rule::parse_rule;
use crate::rule::Rule;
use crate::walk::{self, Errors, Value};
use crate::{Diagnostic, NameResolver};

/// Parses `text` into its rules, in file order, or returns every error found, in file order.
///
/// TOML syntax errors are reported alone: the tree recovered around them is not trustworthy
/// enough to validate.
pub(crate) fn parse(text: &str, names: &dyn NameResolver) -> Result<Vec<Rule>, Vec<Diagnostic>> {
    let mut errors = Errors::new(text);
    let (doc, syntax) = DeTable::parse_recoverable(text);
    if !syntax.is_empty() {
        for e in syntax {
            let span = e.span().unwrap_or(0..0);
            // Name the key: the parser's message does not.
            let culprit = match e.message() {
                "duplicate key" => text.get(span.clone()).map(|k| format!(" `{k}`")),
                _ => None,
            };
            let culprit = culprit.unwrap_or_default();
            errors.at(span, format!("invalid TOML: {}{culprit}", e.message()));
        }
        return Err(errors.into_sorted());
    }
    let doc = doc.get_ref();
    walk::unknown_keys(&mut errors, doc, "at the top level", &["version", "rule"]);
    check_version(&mut errors, doc.get("version"));
    let rules = doc
        .get("rule")
        .map_or_else(Vec::new, |v| rules(&mut errors, v, names));
    match errors.count() {
        0 => Ok(rules),
        _ => Err(errors.into_sorted()),
    }
}

fn check_version(errors: &mut Errors<'_>, version: Option<&Value<'_>>) {
    let Some(version) = version else {
        errors.at(0..0, "missing `version = 1` at the top of the file");
        return;
    };
    match version.get_ref() {
        DeValue::Integer(n) if walk::integer(n) == Some(1) => {}
        DeValue::Integer(n) => errors.at(
            version.span(),
            format!("unsupported policy version {n}: this fdbroker understands version = 1 only"),
        ),
        _ => walk::wrong_type(errors, "version", "the integer 1", version),
    }
}

/// Validates every `[[rule]]`, and that their names are unique.
fn rules(errors: &mut Errors<'_>, value: &Value<'_>, names: &dyn NameResolver) -> Vec<Rule> {
    let items = match value.get_ref() {
        DeValue::Array(items) => items,
        DeValue::Table(_) => {
            errors.at(
                value.span(),
                "`rule` must be an array of tables: write [[rule]], not [rule]",
            );
            return Vec::new();
        }
        _ => {
            walk::wrong_type(
                errors,
                "rule",
                "an array of tables ([[rule]] sections)",
                value,
            );
            return Vec::new();
        }
    };
    // The line of the first rule with each name: a map, so that checking names stays linear.
    let mut first_use: HashMap<&str, u32> = HashMap::with_capacity(items.len());
    let mut rules = Vec::with_capacity(items.len());
    for item in items {
        let DeValue::Table(table) = item.get_ref() else {
            walk::wrong_type(errors, "rule", "a table ([[rule]] section)", item);
            continue;
        };
        let line = errors.line_of(item.span().start);
        let name = table.get("name");
        let name = name.and_then(|v| Some((v.get_ref().as_str().filter(|n| !n.is_empty())?, v)));
        if let Some((name, value)) = name {
            match first_use.get(name) {
                Some(first) => errors.at(
                    value.span(),
                    format!(
                        "duplicate rule name {name:?}: the rule at line {first} has the same name"
                    ),
                ),
                None => {
                    first_use.insert(name, line);
                }
            }
        }
        rules.extend(parse_rule(errors, table, item.span(), names));
    }
    rules
}

#[cfg(test)]
mod tests {
    use crate::testing::{errors, policy};

    const RULE: &str = "users = [\"*\"]\npaths = [\"/x\"]\naccess = [\"read\"]\n";

    #[test]
    fn syntax_errors_are_all_reported_and_stop_validation() {
        let text = "version = 1\nname = \nunknown = 1\n[[rule]]\nx = = 2\n";
        assert_eq!(
            errors(text),
            [
                "2:8: invalid TOML: string values must be quoted, expected literal string",
                "5:5: invalid TOML: extra `=`, expected nothing",
                "5:7: invalid TOML: unexpected key or value, expected newline, `#`",
            ]
        );
        assert_eq!(
            errors("version = 1\n[[rule]]\nname = 'a'\nname = 'b'\n"),
            ["4:1: invalid TOML: duplicate key `name`"]
        );
    }

    #[test]
    fn version_must_be_the_integer_one() {
        assert_eq!(
            errors(""),
            ["1:1: missing `version = 1` at the top of the file"]
        );
        assert_eq!(
            errors("# policy\n\n[[rule]]\nname = 'a'\n")
                .first()
                .map(String::as_str),
            Some("1:1: missing `version = 1` at the top of the file")
        );
        let unsupported = |v: &str| {
            format!(
                "1:11: unsupported policy version {v}: this fdbroker understands version = 1 only"
            )
        };
        assert_eq!(errors("version = 2\n"), [unsupported("2")]);
        assert_eq!(errors("version = 0\n"), [unsupported("0")]);
        assert_eq!(errors("version = 0x10\n"), [unsupported("0x10")]);
        assert_eq!(
            errors("version = '1'\n"),
            ["1:11: `version` must be the integer 1, not a string"]
        );
        assert_eq!(
            errors("version = 1.0\n"),
            ["1:11: `version` must be the integer 1, not a float"]
        );
        assert_eq!(policy("version = 0x1\n").rules().len(), 0);
    }

    #[test]
    fn unknown_top_level_keys_are_named() {
        assert_eq!(
            errors("version = 1\nrules = []\n\n[options]\n"),
            [
                "2:1: unknown key \"rules\" at the top level (did you mean \"rule\"?)",
                "4:2: unknown key \"options\" at the top level (expected version, rule)",
            ]
        );
    }

    #[test]
    fn rule_must_be_an_array_of_tables() {
        assert_eq!(
            errors("version = 1\n[rule]\nname = 'a'\n"),
            ["2:1: `rule` must be an array of tables: write [[rule]], not [rule]"]
        );
        assert_eq!(
            errors("version = 1\nrule = 5\n"),
            ["2:8: `rule` must be an array of tables ([[rule]] sections), not an integer"]
        );
        assert_eq!(
            errors("version = 1\nrule = [1, 'x']\n"),
            [
                "2:9: `rule` must be a table ([[rule]] section), not an integer",
                "2:12: `rule` must be a table ([[rule]] section), not a string",
            ]
        );
    }

    #[test]
    fn a_policy_without_rules_is_valid_and_empty() {
        assert!(policy("version = 1\n").rules().is_empty());
        assert!(policy("version = 1\nrule = []\n").rules().is_empty());
    }

    #[test]
    fn rules_keep_file_order_and_header_lines() {
        let text =
            format!("version = 1\n\n[[rule]]\nname = 'b'\n{RULE}\n  [[rule]]\nname = 'a'\n{RULE}");
        let p = policy(&text);
        let rules: Vec<_> = p.rules().iter().map(|r| (r.name(), r.line())).collect();
        assert_eq!(rules, [("b", 3), ("a", 9)]);

        let inline = "version = 1\nrule = [\n  { name = 'i', users = ['*'], paths = ['/'], access = ['read'] },\n]\n";
        let p = policy(inline);
        assert_eq!((p.rules()[0].name(), p.rules()[0].line()), ("i", 3));
    }

    #[test]
    fn duplicate_names_are_reported_at_the_second_use_naming_the_first() {
        let text = format!(
            "version = 1\n[[rule]]\nname = 'a'\n{RULE}[[rule]]\nname = 'b'\n{RULE}[[rule]]\nname   = 'a'\n{RULE}"
        );
        assert_eq!(
            errors(&text),
            ["13:10: duplicate rule name \"a\": the rule at line 2 has the same name"]
        );
    }

    #[test]
    fn every_error_in_the_file_is_reported_in_file_order() {
        let text = r#"version = 3
colour = "blue"

[[rule]]
name = "ok-so-far"
users = ["clamv", 1001]
paths = ["/srv/uploads/**", "srv/relative"]
access = ["read", "exec"]

[[rule]]
name = "ok-so-far"
groups = ["*", "staff"]
paths = "/srv/x"
access = ["read"]
effect = "deny"
create_mode = 0o640

[[rule]]
users = []
paths = ["/a/**b"]
access = ["list"]
comment = "no name"
"#;
        assert_eq!(
            errors(text),
            [
                "1:11: unsupported policy version 3: this fdbroker understands version = 1 only",
                "2:1: unknown key \"colour\" at the top level (expected version, rule)",
                "6:10: unknown user \"clamv\"",
                "7:29: path pattern \"srv/relative\" must be absolute (start with \"/\")",
                "8:19: unknown access word \"exec\" (expected read, write, create, create_new, truncate or list)",
                "11:8: duplicate rule name \"ok-so-far\": the rule at line 4 has the same name",
                "12:11: \"*\" is only allowed in `users`: list groups by name or gid",
                "13:9: `paths` must be an array of path patterns, not a string",
                "16:1: `create_mode` has no meaning in a deny rule: remove it",
                "18:1: missing required key `name` in this [[rule]]",
                "19:9: `users` is empty: list at least one user",
                "20:10: path pattern \"/a/**b\" has \"**\" inside the component \"**b\" (\"**\" must be a whole component)",
                "22:1: unknown key \"comment\" in a [[rule]] (expected name, users, groups, paths, access, effect, create_mode, units, executables, user_namespaces)",
            ]
        );
    }
}
