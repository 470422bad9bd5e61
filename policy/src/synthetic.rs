//! Generated policies and requests for tests: a deterministic pseudo-random generator, small
//! random policies that mix every kind of pattern, subject and effect, and the large realistic
//! policy that the decision speed is measured on.

use crate::{Access, Peer};

/// A deterministic pseudo-random generator (xorshift64*): the same seed gives the same cases,
/// so a failure reproduces.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    /// A number in `0..n` (`n` > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32;
        usize::try_from(x).unwrap_or_default() % n
    }

    /// True with probability `percent`/100.
    pub(crate) fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A random non-empty set of access words.
    pub(crate) fn access(&mut self) -> Access {
        loop {
            let bits = u8::try_from(self.below(128)).unwrap_or(1);
            let access = Access::from_bits_truncate(bits);
            if !access.is_empty() {
                return access;
            }
        }
    }

    /// `/` followed by `0..=max` components drawn from `parts`.
    fn path(&mut self, parts: &[&str], max: usize) -> String {
        let parts: Vec<&str> = (0..self.below(max + 1))
            .map(|_| *self.pick(parts))
            .collect();
        format!("/{}", parts.join("/"))
    }
}

/// A random valid policy of 1 to 12 rules over a tiny alphabet, so that patterns, subjects and
/// access sets collide often: literal, `*`, partial-`*` and `**` components at any position.
pub(crate) fn random_policy(rng: &mut Rng) -> String {
    const PARTS: [&str; 10] = ["a", "b", "c", "ab", "*", "a*", "*b", "a*b", "**", "**"];
    let mut text = String::from("version = 1\n");
    for i in 0..1 + rng.below(12) {
        text += &format!("[[rule]]\nname = \"r{i}\"\n");
        let (users, groups) = match rng.below(4) {
            0 => (true, false),
            1 => (false, true),
            _ => (true, true),
        };
        if users {
            let list = if rng.chance(15) {
                "\"*\"".to_owned()
            } else {
                ids(rng, 0, 4)
            };
            text += &format!("users = [{list}]\n");
        }
        if groups {
            text += &format!("groups = [{}]\n", ids(rng, 10, 3));
        }
        let paths: Vec<String> = (0..1 + rng.below(3))
            .map(|_| format!("{:?}", rng.path(&PARTS, 4)))
            .collect();
        text += &format!("paths = [{}]\n", paths.join(", "));
        let words: Vec<String> = rng
            .access()
            .iter_names()
            .map(|(w, _)| quoted_word(w))
            .collect();
        text += &format!("access = [{}]\n", words.join(", "));
        if rng.chance(35) {
            text += "effect = \"deny\"\n";
        }
    }
    text
}

/// A random request for [`random_policy`]: a peer, a path (sometimes not normalized) and a
/// set of access words (sometimes empty).
pub(crate) fn random_request(rng: &mut Rng) -> (u32, u32, Vec<u32>, String, Access) {
    const PARTS: [&str; 8] = ["a", "b", "c", "ab", "ba", "abb", "acb", "x"];
    let uid = u32::try_from(rng.below(5)).unwrap_or_default();
    let gid = 10 + u32::try_from(rng.below(4)).unwrap_or_default();
    let groups = (0..rng.below(3))
        .map(|_| 10 + u32::try_from(rng.below(4)).unwrap_or_default())
        .collect();
    let path = match rng.below(20) {
        0 => rng
            .pick(&["", "a", "/a/", "//a", "/a/../b", "/./a"])
            .to_string(),
        _ => rng.path(&PARTS, 5),
    };
    let access = if rng.chance(3) {
        Access::empty()
    } else {
        rng.access()
    };
    (uid, gid, groups, path, access)
}

/// 1 to `count` ids drawn from `first..=first + count` (perhaps repeated), as TOML integers.
fn ids(rng: &mut Rng, first: usize, count: usize) -> String {
    let ids: Vec<String> = (0..1 + rng.below(count))
        .map(|_| (first + rng.below(count + 1)).to_string())
        .collect();
    ids.join(", ")
}

/// The policy-file spelling of the access flag named `flag` (`READ` → `"read"`).
fn quoted_word(flag: &str) -> String {
    format!("{:?}", flag.to_ascii_lowercase())
}

/// A realistic large policy of `n` rules, cycling through eight kinds: per-tenant upload
/// trees with a denied `secret` subtree, home directories (`*.txt`, a denied `.ssh`), spool
/// queues (`/var/spool/qN/*/in/**`), shared trees with two patterns, literal files, and now
/// and then a `/**/core.N` deny. Users and groups are spread over many ids: the rule `i` is
/// for uid `1000 + i` or gid `5000 + i % 500`.
pub(crate) fn large_policy(n: usize) -> String {
    let mut text = String::from("version = 1\n");
    for i in 0..n {
        let (uid, gid) = (1000 + i, 5000 + i % 500);
        let (users, paths, access, effect) = match i % 8 {
            _ if i % 2000 == 9 => (
                "\"*\"".to_owned(),
                format!("\"/**/core.{i}\""),
                "\"read\"",
                "deny",
            ),
            0 => (
                uid.to_string(),
                format!("\"/srv/tenant{i}/uploads/**\""),
                "\"read\", \"list\"",
                "allow",
            ),
            1 => (
                uid.to_string(),
                format!("\"/home/user{i}/*.txt\""),
                "\"read\", \"write\", \"create\"",
                "allow",
            ),
            2 => (
                format!("{uid}]\ngroups = [{gid}"),
                format!("\"/var/spool/q{i}/*/in/**\""),
                "\"write\", \"create\"",
                "allow",
            ),
            3 => (
                "\"*\"".to_owned(),
                format!("\"/srv/tenant{}/uploads/secret/**\"", i - 3),
                "\"read\", \"write\"",
                "deny",
            ),
            4 => (
                format!("{uid}]\ngroups = [{gid}"),
                format!("\"/srv/tenant{i}/shared/*\", \"/srv/tenant{i}/shared/*/**\""),
                "\"read\"",
                "allow",
            ),
            5 => (
                uid.to_string(),
                format!("\"/home/user{}/.ssh/**\"", i - 4),
                "\"write\", \"create\"",
                "deny",
            ),
            6 => (
                uid.to_string(),
                format!("\"/data/d{}/f{i}.bin\"", i % 100),
                "\"read\"",
                "allow",
            ),
            _ => (
                format!("{uid}]\ngroups = [{gid}"),
                format!("\"/var/spool/q{}/*/out/*.msg\"", i - 5),
                "\"read\"",
                "allow",
            ),
        };
        text += &format!(
            "\n[[rule]]\nname = \"rule-{i}\"\nusers = [{users}]\npaths = [{paths}]\n\
             access = [{access}]\neffect = \"{effect}\"\n"
        );
    }
    text
}

/// The tenant of the last upload rule of [`large_policy`]`(n)`, and the client it is for: a
/// request for its uploads is decided near the end of the file.
pub(crate) fn last_tenant(n: usize) -> (usize, Peer<'static>) {
    let tenant = (n - 1) / 8 * 8;
    let uid = u32::try_from(1000 + tenant).unwrap_or_default();
    (
        tenant,
        Peer {
            uid,
            gid: uid,
            groups: &[],
            process: None,
            namespace: Default::default(),
        },
    )
}
