//! Path patterns: parsing them from the policy file and matching request paths against them.
//!
//! A pattern is a list of components. `**` as a whole component matches zero or more whole
//! path components; any other component matches exactly one path component, where each `*`
//! matches any run of bytes (possibly empty) inside that component and every other byte
//! matches itself. Matching is always against the whole path, never a prefix.

use std::fmt;
use std::ops::Range;

/// A parsed, normalized path pattern.
#[derive(Clone)]
pub(crate) struct Pattern {
    /// The pattern as written: its components are byte ranges of it, so that a pattern costs
    /// two allocations however many components it has.
    text: Box<str>,
    components: Box<[Component]>,
}

#[derive(Clone)]
enum Component {
    /// `**`: zero or more whole components.
    AnyDepth,
    /// A component without `*` (these bytes of the text): matches exactly itself.
    Literal(Range<usize>),
    /// A component with at least one `*` (these bytes of the text).
    Glob(Range<usize>),
}

impl Pattern {
    /// Parses `text`, which must be absolute and normalized. The error says what is wrong and
    /// names the pattern, ready to be shown to an administrator.
    pub(crate) fn parse(text: &str) -> Result<Pattern, String> {
        let fail = |what: String| Err(format!("path pattern {text:?} {what}"));
        let Some(rest) = text.strip_prefix('/') else {
            return fail("must be absolute (start with \"/\")".into());
        };
        if text.contains('\0') {
            return fail("contains a NUL byte".into());
        }
        let mut components = Vec::new();
        if rest.is_empty() {
            return Ok(Pattern {
                text: text.into(),
                components: components.into(),
            });
        }
        if text.contains("//") {
            return fail("has an empty component (\"//\")".into());
        }
        if rest.ends_with('/') {
            let trimmed = text.trim_end_matches('/');
            return fail(format!("ends with \"/\" (write {trimmed:?})"));
        }
        let mut start = 1;
        for component in rest.split('/') {
            let range = start..start + component.len();
            start = range.end + 1;
            match component {
                "." | ".." => {
                    return fail(format!(
                        "has a {component:?} component (patterns must be normalized)"
                    ));
                }
                "**" => components.push(Component::AnyDepth),
                _ if component.contains("**") => {
                    return fail(format!(
                        "has \"**\" inside the component {component:?} (\"**\" must be a whole component)"
                    ));
                }
                _ if component.contains('*') => components.push(Component::Glob(range)),
                _ => components.push(Component::Literal(range)),
            }
        }
        Ok(Pattern {
            text: text.into(),
            components: components.into(),
        })
    }

    /// True if the pattern matches the whole of `path`, given as its components (see
    /// [`with_components`](crate::path::with_components)).
    ///
    /// Runs in O(pattern components × path components) whatever the number of `**`: a later
    /// `**` supersedes the backtracking point of an earlier one, which is sound because `**`
    /// matches any sequence of components.
    pub(crate) fn matches(&self, path: &[&[u8]]) -> bool {
        let pat = &self.components;
        let (mut p, mut s) = (0, 0);
        // The last `**` seen and the path index it is currently extended to.
        let mut resume: Option<(usize, usize)> = None;
        while s < path.len() {
            match pat.get(p) {
                Some(Component::AnyDepth) => {
                    resume = Some((p, s));
                    p += 1;
                }
                Some(c) if self.matches_one(c, path[s]) => {
                    p += 1;
                    s += 1;
                }
                _ => match resume {
                    Some((star, taken)) => {
                        resume = Some((star, taken + 1));
                        p = star + 1;
                        s = taken + 1;
                    }
                    None => return false,
                },
            }
        }
        pat[p..].iter().all(|c| matches!(c, Component::AnyDepth))
    }

    /// The pattern as written.
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    /// The literal components the pattern starts with, up to its first wildcard component:
    /// a path it matches has exactly these as its first components, since each literal
    /// matches one whole component and nothing before it can consume more.
    pub(crate) fn leading_literals(&self) -> impl Iterator<Item = &[u8]> {
        self.components.iter().map_while(|c| self.literal(c))
    }

    /// True if the pattern has no wildcard: it matches exactly one path, itself.
    pub(crate) fn is_literal(&self) -> bool {
        self.components
            .iter()
            .all(|c| matches!(c, Component::Literal(_)))
    }

    /// The literal components the pattern ends with, last first, back to its last wildcard
    /// component: a path it matches has exactly these as its last components, since every
    /// component after the last `**` matches exactly one path component.
    pub(crate) fn trailing_literals(&self) -> impl Iterator<Item = &[u8]> {
        self.components.iter().rev().map_while(|c| self.literal(c))
    }

    /// The bytes of `component` if it is a literal.
    fn literal(&self, component: &Component) -> Option<&[u8]> {
        match component {
            Component::Literal(range) => Some(&self.text.as_bytes()[range.clone()]),
            Component::Glob(_) | Component::AnyDepth => None,
        }
    }

    /// True if `component`, which is not `**`, matches the path component `name`.
    fn matches_one(&self, component: &Component, name: &[u8]) -> bool {
        match component {
            Component::Literal(range) => self.text.as_bytes()[range.clone()] == *name,
            Component::Glob(range) => glob_matches(&self.text.as_bytes()[range.clone()], name),
            Component::AnyDepth => false,
        }
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({:?})", self.text)
    }
}

/// Matches one path component against a pattern component with at least one `*`.
fn glob_matches(glob: &[u8], name: &[u8]) -> bool {
    // At least one `*`, so at least two pieces: the first and the last are distinct.
    let mut pieces = glob.split(|&b| b == b'*');
    let (Some(first), Some(last)) = (pieces.next(), pieces.next_back()) else {
        return false;
    };
    if name.len() < first.len() + last.len() || !name.starts_with(first) || !name.ends_with(last) {
        return false;
    }
    // Leftmost placement of each middle piece is optimal: it leaves the most room for the rest.
    let mut rest = &name[first.len()..name.len() - last.len()];
    for piece in pieces {
        match find(rest, piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    true
}

/// The index of the first occurrence of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::with_components;

    fn m(pattern: &str, path: &[u8]) -> bool {
        let pattern = Pattern::parse(pattern).expect("valid pattern");
        with_components(path, |parts| pattern.matches(parts)).expect("normalized path")
    }

    /// Asserts that `pattern` matches each of the space-separated paths `yes` and none of `no`.
    fn check(pattern: &str, yes: &str, no: &str) {
        for p in yes.split_whitespace() {
            assert!(m(pattern, p.as_bytes()), "{pattern} should match {p}");
        }
        for p in no.split_whitespace() {
            assert!(!m(pattern, p.as_bytes()), "{pattern} should not match {p}");
        }
    }

    #[test]
    fn literal_patterns_match_exactly() {
        check("/", "/", "/a");
        check(
            "/srv/scan",
            "/srv/scan",
            "/ /srv /srv/scan/x /srv/scanner /srv/sca",
        );
    }

    #[test]
    fn double_star_at_end_matches_the_directory_itself_and_everything_below_only() {
        let yes = "/srv/scan /srv/scan/x /srv/scan/x/y/z /srv/scan/.hidden";
        let no = "/ /srv /srv/scanner /srv/scanner/x /srv/scan2 /srv/other/scan/x";
        check("/srv/scan/**", yes, no);
        check("/**", "/ /a /a/b/c", "");
    }

    #[test]
    fn double_star_at_start_and_middle() {
        check("/**/x", "/x /a/x /a/b/x /x/x", "/ /a /x/a /ax /a/xx");
        check(
            "/a/**/b",
            "/a/b /a/z/b /a/z/y/b /a/b/b",
            "/a /b /a/b/c /x/a/b",
        );
    }

    #[test]
    fn several_double_stars_backtrack() {
        let yes = "/a/b /a/x/b /a/x/b/y /a/b/a/b/c /a/x/y/b/z/w";
        check("/a/**/b/**", yes, "/a /a/x /b/a /x/a/b");
        check("/**/a/**/a", "/a/a /a/x/a /x/a/a /a/a/a", "/a /a/x /x/a");
        check("/**/**", "/ /a/b", "");
    }

    #[test]
    fn many_double_stars_against_a_deep_path_stay_fast() {
        let deep = "/a".repeat(4000);
        assert!(!m("/**/a/**/a/**/a/**/a/**/b", deep.as_bytes()));
        assert!(m("/**/a/**/a/**/a/**/a/**", deep.as_bytes()));
    }

    #[test]
    fn single_star_stays_within_one_component_and_may_match_nothing() {
        check("/srv/*", "/srv/x /srv/.x /srv/*", "/srv /srv/x/y /srv2/x");
        check("/*/x", "/a/x /bb/x", "/x /a/b/x");
        check("/*", "/a /.a", "/ /a/b");
        check(
            "/srv/*.eml",
            "/srv/a.eml /srv/.eml /srv/a.b.eml",
            "/srv/a.eml2 /srv/eml",
        );
        check("/srv/a*", "/srv/a /srv/abc", "/srv/ba");
        check("/srv/*a", "/srv/a /srv/ba", "/srv/ab");
        let no = "/srv/ab /srv/acb /srv/bc";
        check("/srv/a*b*c", "/srv/abc /srv/aXbYc /srv/abbc /srv/acbc", no);
        check("/srv/a*a", "/srv/aa /srv/aba", "/srv/a");
        check(
            "/srv/**/*.log",
            "/srv/x.log /srv/a/b/.log",
            "/srv.log /srv/a/x.log/y",
        );
    }

    #[test]
    fn other_metacharacters_are_literal() {
        check("/a/?", "/a/?", "/a/b");
        check("/a/[ab]", "/a/[ab]", "/a/a");
        check("/a/\\*", "/a/\\x /a/\\", "/a/x");
    }

    #[test]
    fn non_utf8_path_bytes_match() {
        assert!(m("/srv/**", b"/srv/\xff\xfe/x"));
        assert!(m("/srv/*", b"/srv/\xff"));
        assert!(m("/srv/a*", b"/srv/a\x80\x81"));
        assert!(!m("/srv/a", b"/srv/\xff"));
        assert!(m("/srv/é", "/srv/é".as_bytes()));
        assert!(!m("/srv/é", b"/srv/\xe9"));
    }

    #[test]
    fn invalid_patterns_are_explained() {
        let err = |p: &str| Pattern::parse(p).expect_err(p);
        assert_eq!(
            err(""),
            r#"path pattern "" must be absolute (start with "/")"#
        );
        assert_eq!(
            err("srv/x"),
            r#"path pattern "srv/x" must be absolute (start with "/")"#
        );
        assert_eq!(
            err("/a//b"),
            r#"path pattern "/a//b" has an empty component ("//")"#
        );
        assert_eq!(
            err("/a/"),
            r#"path pattern "/a/" ends with "/" (write "/a")"#
        );
        assert_eq!(
            err("//"),
            r#"path pattern "//" has an empty component ("//")"#
        );
        assert_eq!(
            err("/a/./b"),
            r#"path pattern "/a/./b" has a "." component (patterns must be normalized)"#
        );
        assert_eq!(
            err("/a/.."),
            r#"path pattern "/a/.." has a ".." component (patterns must be normalized)"#
        );
        assert_eq!(
            err("/a/**b"),
            r#"path pattern "/a/**b" has "**" inside the component "**b" ("**" must be a whole component)"#
        );
        assert!(err("/a/***").contains("inside the component"));
        assert_eq!(err("/a\0"), r#"path pattern "/a\0" contains a NUL byte"#);
        assert!(Pattern::parse("/a/..b/.c/**/x*y").is_ok());
    }
}
