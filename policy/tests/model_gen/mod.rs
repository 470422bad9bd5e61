//! Generators for `tests/model.rs`: random policies over a tiny alphabet, kept as a model
//! and written out as TOML text, random requests, and damaged policy texts.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};

/// User names the test resolver knows, with their uids.
pub const USERS: [(&str, u32); 3] = [("root", 0), ("alice", 1), ("bob", 2)];
/// Group names the test resolver knows, with their gids.
pub const GROUPS: [(&str, u32); 2] = [("wheel", 10), ("staff", 11)];

/// The access words with their bits (the wire format's), in bit order. Bit 2, the
/// withdrawn `append`, is reserved.
const WORDS: [(u8, &str); 6] = [
    (1 << 0, "read"),
    (1 << 1, "write"),
    (1 << 3, "create"),
    (1 << 4, "truncate"),
    (1 << 5, "list"),
    (1 << 6, "create_new"),
];

/// The bits of `create` and `create_new`.
pub const CREATE: u8 = 1 << 3;
pub const CREATE_NEW: u8 = 1 << 6;

/// The access mask whose words are those of `WORDS` picked by the bits of `picks`.
fn mask(picks: u8) -> u8 {
    WORDS
        .iter()
        .enumerate()
        .filter(|(i, _)| picks & (1 << i) != 0)
        .fold(0, |mask, (_, (bit, _))| mask | bit)
}

/// One entry of `users` or `groups`.
#[derive(Debug, Clone)]
pub enum Subject {
    Id(u32),
    Name(&'static str, u32),
    AnyUser,
}

/// One rule of a model policy, with what is needed to write it out in several styles.
#[derive(Debug, Clone)]
pub struct ModelRule {
    pub name: String,
    pub users: Option<Vec<Subject>>,
    pub groups: Option<Vec<Subject>>,
    /// Each pattern as its components (`[]` is the pattern `/`).
    pub patterns: Vec<Vec<String>>,
    /// Access bits, as on the wire (see `WORDS`).
    pub access: u8,
    pub deny: bool,
    /// Write `effect = "allow"` instead of leaving it out.
    pub explicit_allow: bool,
    /// Written for allow rules only.
    pub create_mode: Option<u32>,
    /// Rotation of the key order, and of the access word order.
    pub rotate: usize,
    pub single_quotes: bool,
}

impl ModelRule {
    /// True if the rule applies to this peer: uid listed or `*`, or any gid listed.
    pub fn applies_to(&self, uid: u32, gid: u32, groups: &[u32]) -> bool {
        let id = |s: &Subject| match s {
            Subject::Id(n) | Subject::Name(_, n) => Some(*n),
            Subject::AnyUser => None,
        };
        let users = self.users.iter().flatten();
        let any_user = users.clone().any(|s| matches!(s, Subject::AnyUser));
        let uid_listed = users.filter_map(id).any(|u| u == uid);
        let mut gids = self.groups.iter().flatten().filter_map(id);
        any_user || uid_listed || gids.any(|g| g == gid || groups.contains(&g))
    }

    fn to_toml(&self, inline: bool) -> String {
        let q = |s: &str| match self.single_quotes {
            true => format!("'{s}'"),
            false => format!("\"{s}\""),
        };
        let subjects = |list: &[Subject]| -> String {
            let items: Vec<String> = list
                .iter()
                .map(|s| match s {
                    Subject::Id(n) => n.to_string(),
                    Subject::Name(name, _) => q(name),
                    Subject::AnyUser => q("*"),
                })
                .collect();
            format!("[{}]", items.join(", "))
        };
        let patterns: Vec<String> = self
            .patterns
            .iter()
            .map(|p| q(&format!("/{}", p.join("/"))))
            .collect();
        let mut words: Vec<String> = WORDS
            .iter()
            .filter(|(bit, _)| self.access & bit != 0)
            .map(|(_, word)| q(word))
            .collect();
        let turn = self.rotate % words.len().max(1);
        words.rotate_left(turn);
        let mut keys = vec![
            format!("name = {}", q(&self.name)),
            format!("paths = [{}]", patterns.join(", ")),
            format!("access = [{}]", words.join(", ")),
        ];
        keys.extend(
            self.users
                .as_deref()
                .map(|u| format!("users = {}", subjects(u))),
        );
        keys.extend(
            self.groups
                .as_deref()
                .map(|g| format!("groups = {}", subjects(g))),
        );
        if self.deny {
            keys.push(format!("effect = {}", q("deny")));
        } else {
            keys.extend(
                self.explicit_allow
                    .then(|| format!("effect = {}", q("allow"))),
            );
            keys.extend(self.create_mode.map(|m| format!("create_mode = {m:#o}")));
        }
        let turn = self.rotate % keys.len();
        keys.rotate_left(turn);
        match inline {
            true => format!("  {{ {} }},\n", keys.join(", ")),
            false => format!("\n[[rule]]\n{}\n", keys.join("\n")),
        }
    }
}

/// A policy: its rules in file order, and whether to write them as `rule = [{ .. }]`.
#[derive(Debug, Clone)]
pub struct ModelPolicy {
    pub rules: Vec<ModelRule>,
    pub inline: bool,
}

impl ModelPolicy {
    /// The policy as a TOML file.
    pub fn to_toml(&self) -> String {
        let rules: String = self.rules.iter().map(|r| r.to_toml(self.inline)).collect();
        match self.inline && !self.rules.is_empty() {
            true => format!("version = 1\nrule = [\n{rules}]\n"),
            false => format!("# generated\nversion = 1\n{rules}"),
        }
    }
}

/// A client request: credentials, path bytes and access bits.
#[derive(Debug, Clone)]
pub struct Request {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub path: Vec<u8>,
    pub access: u8,
}

fn users() -> impl Strategy<Value = Vec<Subject>> {
    let one = prop_oneof![
        4 => (0..4u32).prop_map(Subject::Id),
        1 => Just(Subject::AnyUser),
        1 => select(USERS.to_vec()).prop_map(|(n, id)| Subject::Name(n, id)),
    ];
    vec(one, 1..3)
}

fn groups() -> impl Strategy<Value = Vec<Subject>> {
    let one = prop_oneof![
        3 => (10..13u32).prop_map(Subject::Id),
        1 => select(GROUPS.to_vec()).prop_map(|(n, id)| Subject::Name(n, id)),
    ];
    vec(one, 1..3)
}

/// `users`, `groups` or both, never neither.
fn subjects() -> impl Strategy<Value = (Option<Vec<Subject>>, Option<Vec<Subject>>)> {
    prop_oneof![
        users().prop_map(|u| (Some(u), None)),
        groups().prop_map(|g| (None, Some(g))),
        (users(), groups()).prop_map(|(u, g)| (Some(u), Some(g))),
    ]
}

/// A pattern of depth 0 to 4 over literals, `*` globs (one with a middle piece) and `**`.
fn pattern() -> impl Strategy<Value = Vec<String>> {
    let component = prop_oneof![
        4 => select(vec!["a", "b", "c", "ab"]),
        4 => select(vec!["*", "a*", "*b", "a*b", "*a*"]),
        3 => Just("**"),
    ];
    vec(component.prop_map(String::from), 0..=4)
}

/// A non-empty access set, as bits, for a rule: often a large one, so it grants requests.
fn rule_access() -> impl Strategy<Value = u8> {
    prop_oneof![
        (1..64u8).prop_map(mask),
        (1..64u8, 1..64u8).prop_map(|(a, b)| mask(a | b))
    ]
}

/// An access set, as bits, for a request: mostly one or two words, now and then none.
fn request_access() -> impl Strategy<Value = u8> {
    let word = (0..6u8).prop_map(|i| mask(1 << i));
    prop_oneof![
        8 => word.clone(),
        6 => (word.clone(), word).prop_map(|(a, b)| a | b),
        4 => (1..64u8).prop_map(mask),
        1 => Just(0u8),
    ]
}

/// A rule without its name (the policy numbers them) and with a random writing style.
fn rule() -> impl Strategy<Value = ModelRule> {
    let style = (any::<usize>(), any::<bool>(), any::<bool>());
    let mode = proptest::option::of(0..=0o777u32);
    (
        subjects(),
        vec(pattern(), 1..3),
        rule_access(),
        prop::bool::weighted(0.3),
        mode,
        style,
    )
        .prop_map(
            |((users, groups), patterns, access, deny, create_mode, (rotate, quotes, explicit))| {
                ModelRule {
                    name: String::new(),
                    users,
                    groups,
                    patterns,
                    access,
                    deny,
                    explicit_allow: explicit,
                    create_mode,
                    rotate,
                    single_quotes: quotes,
                }
            },
        )
}

/// A valid policy of 0 to 12 rules.
pub fn policy() -> impl Strategy<Value = ModelPolicy> {
    (vec(rule(), 0..=12), prop::bool::weighted(0.2)).prop_map(|(mut rules, inline)| {
        for (i, rule) in rules.iter_mut().enumerate() {
            rule.name = format!("r{i}");
        }
        ModelPolicy { rules, inline }
    })
}

/// A path of depth 0 to 5 over the pattern alphabet (with rare `ba` and non-UTF-8 components), or
/// now and then a path that is not normalized.
fn path() -> impl Strategy<Value = Vec<u8>> {
    let component = prop_oneof![
        12 => select(vec![&b"a"[..], b"b", b"c", b"ab"]),
        1 => select(vec![&b"ba"[..], b"\xffb"]),
    ];
    let normal = vec(component, 0..=5).prop_map(|cs| match cs.is_empty() {
        true => b"/".to_vec(),
        false => cs.iter().flat_map(|c| [&b"/"[..], c].concat()).collect(),
    });
    let odd = [
        &b""[..],
        b"a",
        b"/a/",
        b"//",
        b"//a",
        b"/a/./b",
        b"/a/..",
        b"/.",
        b"/a\0",
    ];
    prop_oneof![12 => normal, 1 => select(odd.to_vec()).prop_map(<[u8]>::to_vec)]
}

fn request() -> impl Strategy<Value = Request> {
    let uid = prop_oneof![4 => 0..5u32, 1 => 10..12u32];
    let gid = prop_oneof![4 => 10..14u32, 1 => 0..3u32];
    (uid, gid, vec(10..14u32, 0..3), path(), request_access()).prop_map(
        |(uid, gid, groups, path, access)| Request {
            uid,
            gid,
            groups,
            path,
            access,
        },
    )
}

/// 1 to 16 requests to ask of one policy.
pub fn requests() -> impl Strategy<Value = Vec<Request>> {
    vec(request(), 1..=16)
}

/// Bits of TOML, valid or not, to splice in anywhere.
const FRAGMENTS: [&str; 14] = [
    "[", "]", "{", "}", "=", ",", "\"", "'", "\"\"\"", "#", "\n", "é", "😀", "\r",
];

/// Whole lines of policies, mostly wrong in one way, to insert between lines.
const LINES: [&str; 20] = [
    "[[rule]]",
    "[rule]",
    "version = 1",
    "version = 2",
    "rule = 5",
    "extra = 1",
    "name = \"r0\"",
    "name = ''",
    "users = []",
    "users = [\"nobody\", \"1001\", 1.5, \"root\"]",
    "groups = [\"*\", 4294967295, -1, \"staff\"]",
    "paths = [\"/a//b\", \"a\", \"/**x\", \"/é/*\"]",
    "paths = \"/a\"",
    "access = [\"exec\", \"read\"]",
    "effect = \"deny\"",
    "effect = \"permit\"",
    "create_mode = 0o640",
    "create_mode = 400",
    "create_mode = 0o1000",
    "# comment é",
];

/// A small edit to a text, at positions given as indices into its character boundaries
/// or its lines.
#[derive(Debug, Clone)]
enum Edit {
    Insert(Index, &'static str),
    InsertLine(Index, &'static str),
    DeleteLine(Index),
    DuplicateLine(Index),
    Delete(Index, Index),
    Truncate(Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        2 => (any::<Index>(), select(FRAGMENTS.to_vec())).prop_map(|(i, f)| Edit::Insert(i, f)),
        4 => (any::<Index>(), select(LINES.to_vec())).prop_map(|(i, l)| Edit::InsertLine(i, l)),
        2 => any::<Index>().prop_map(Edit::DeleteLine),
        1 => any::<Index>().prop_map(Edit::DuplicateLine),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Edit::Delete(a, b)),
        1 => any::<Index>().prop_map(Edit::Truncate),
    ]
}

fn apply(text: &mut String, edit: &Edit) {
    let bounds: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain([text.len()])
        .collect();
    let at = |i: &Index| bounds[i.index(bounds.len())];
    let mut lines: Vec<String> = text.split('\n').map(String::from).collect();
    let line = |i: &Index| i.index(lines.len());
    match edit {
        Edit::Insert(i, fragment) => text.insert_str(at(i), fragment),
        Edit::Delete(a, b) => {
            let (a, b) = (at(a), at(b));
            text.replace_range(a.min(b)..a.max(b), "");
        }
        Edit::Truncate(i) => text.truncate(at(i)),
        Edit::InsertLine(i, new) => {
            lines.insert(line(i), (*new).into());
            *text = lines.join("\n");
        }
        Edit::DeleteLine(i) => {
            lines.remove(line(i));
            *text = lines.join("\n");
        }
        Edit::DuplicateLine(i) => {
            let at = line(i);
            lines.insert(at, lines[at].clone());
            *text = lines.join("\n");
        }
    }
}

/// Policy texts: valid ones with a few edits, TOML-ish noise and arbitrary strings.
pub fn mutated_text() -> impl Strategy<Value = String> {
    let edited = (policy(), vec(edit(), 1..3)).prop_map(|(p, edits)| {
        let mut text = p.to_toml();
        edits.iter().for_each(|e| apply(&mut text, e));
        text
    });
    prop_oneof![
        4 => edited,
        1 => "[\\[\\]a-z0-9 =\"'\n#.{},*/_-]{0,300}",
        1 => any::<String>(),
    ]
}
