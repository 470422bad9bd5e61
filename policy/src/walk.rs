//! Helpers for walking the spanned TOML tree by hand: an error collector that turns byte spans
//! into [`Diagnostic`]s, and typed accessors that report a wrong type instead of stopping.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeInteger, DeTable, DeValue};

use crate::Diagnostic;
use crate::diagnostic::LineIndex;

/// A TOML value with the byte range it was written at.
pub(crate) type Value<'i> = Spanned<DeValue<'i>>;

/// Collects every error found in one policy text.
pub(crate) struct Errors<'t> {
    lines: LineIndex<'t>,
    found: Vec<Diagnostic>,
}

impl<'t> Errors<'t> {
    pub(crate) fn new(text: &'t str) -> Self {
        Errors {
            lines: LineIndex::new(text),
            found: Vec::new(),
        }
    }

    /// Records `message` at the start of `span`.
    pub(crate) fn at(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.found.push(self.lines.diagnostic(span.start, message));
    }

    /// How many errors were found so far.
    pub(crate) fn count(&self) -> usize {
        self.found.len()
    }

    /// The 1-based line of byte offset `offset`.
    pub(crate) fn line_of(&self, offset: usize) -> u32 {
        self.lines.diagnostic(offset, "").line
    }

    /// Every error found, in file order (the tree is walked in key order, not file order).
    pub(crate) fn into_sorted(mut self) -> Vec<Diagnostic> {
        self.found.sort_by_key(|d| (d.line, d.col));
        self.found
    }
}

/// The type of `value` with its article, for messages: "a string", "an integer", ...
pub(crate) fn kind(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a datetime",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// Reports that the value of `key` is not `expected`.
pub(crate) fn wrong_type(errors: &mut Errors<'_>, key: &str, expected: &str, value: &Value<'_>) {
    let found = kind(value.get_ref());
    errors.at(
        value.span(),
        format!("`{key}` must be {expected}, not {found}"),
    );
}

/// The value of `key` as a string, or `None` after reporting a wrong type.
pub(crate) fn string<'v>(
    errors: &mut Errors<'_>,
    key: &str,
    value: &'v Value<'_>,
) -> Option<&'v str> {
    let s = value.get_ref().as_str();
    if s.is_none() {
        wrong_type(errors, key, "a string", value);
    }
    s
}

/// The elements of `key`'s value, which must be a non-empty array; `None` after reporting.
pub(crate) fn list<'v, 'i>(
    errors: &mut Errors<'_>,
    key: &str,
    what: &str,
    value: &'v Value<'i>,
) -> Option<&'v [Value<'i>]> {
    match value.get_ref() {
        DeValue::Array(items) if items.is_empty() => {
            errors.at(
                value.span(),
                format!("`{key}` is empty: list at least one {what}"),
            );
            None
        }
        DeValue::Array(items) => Some(items),
        _ => {
            wrong_type(errors, key, &format!("an array of {what}s"), value);
            None
        }
    }
}

/// The value of an integer, or `None` if it does not fit in an `i128` (far outside any range
/// a policy accepts).
pub(crate) fn integer(value: &DeInteger<'_>) -> Option<i128> {
    i128::from_str_radix(value.as_str(), value.radix()).ok()
}

/// Reports every key of `table` that is not in `expected`, at the key.
pub(crate) fn unknown_keys(
    errors: &mut Errors<'_>,
    table: &DeTable<'_>,
    place: &str,
    expected: &[&str],
) {
    for key in table.keys() {
        let name: &str = key.get_ref().as_ref();
        if !expected.contains(&name) {
            let hint = match fdbroker_wire::suggest(name, expected.iter().copied()) {
                Some(meant) => format!("did you mean {meant:?}?"),
                None => format!("expected {}", expected.join(", ")),
            };
            errors.at(key.span(), format!("unknown key {name:?} {place} ({hint})"));
        }
    }
}
