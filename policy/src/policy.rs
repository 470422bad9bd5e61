//! A loaded policy: parsing it from text or from its file, and what it can grant.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::diagnostic::LineIndex;
use crate::index::Index;
use crate::rule::Rule;
use crate::{Access, Diagnostic, Effect, LoadError, NameResolver};

/// The largest policy file [`Policy::load`] reads: anything bigger is surely not a policy, and
/// the cap bounds the memory a mistaken path (such as a device) can make the broker use.
const MAX_FILE_SIZE: u64 = 16 << 20;

/// A valid policy: its rules, in file order. Immutable once loaded; reloading means loading a
/// new `Policy` and swapping it in.
#[derive(Debug)]
pub struct Policy {
    rules: Vec<Rule>,
    /// The patterns of `rules`, compiled for [`Policy::decide`].
    pub(crate) index: Index,
}

impl Policy {
    /// Parses a policy text, resolving user and group names through `names`. On failure
    /// returns every error found, in file order (after a TOML syntax error, only the syntax
    /// errors).
    pub fn parse(text: &str, names: &dyn NameResolver) -> Result<Policy, Vec<Diagnostic>> {
        let mut rules = crate::parse::parse(text, names)?;
        for (i, rule) in rules.iter_mut().enumerate() {
            rule.index = i;
        }
        let index = Index::new(&rules);
        Ok(Policy { rules, index })
    }

    /// Reads and parses the policy file at `path`. A file larger than 16 MiB or not valid
    /// UTF-8 is [`LoadError::Invalid`], with the position of the problem.
    pub fn load(path: &Path, names: &dyn NameResolver) -> Result<Policy, LoadError> {
        Policy::read(File::open(path).map_err(LoadError::Io)?, names)
    }

    /// Reads and parses a policy file already open (one opened for the broker by another
    /// process, say), like [`Policy::load`].
    pub fn read(file: impl Read, names: &dyn NameResolver) -> Result<Policy, LoadError> {
        let mut bytes = Vec::new();
        file.take(MAX_FILE_SIZE + 1)
            .read_to_end(&mut bytes)
            .map_err(LoadError::Io)?;
        if bytes.len() as u64 > MAX_FILE_SIZE {
            let too_big = LineIndex::new("").diagnostic(0, "the file is larger than 16 MiB");
            return Err(LoadError::Invalid(vec![too_big]));
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let valid = std::str::from_utf8(valid).unwrap_or_default();
            let message = "the file is not valid UTF-8 (first invalid byte here)";
            LoadError::Invalid(vec![LineIndex::new(valid).diagnostic(valid.len(), message)])
        })?;
        Policy::parse(&text, names).map_err(LoadError::Invalid)
    }

    /// The union of the access words granted by allow rules: nothing outside it can ever be
    /// allowed, so the broker derives the capabilities it keeps from it.
    pub fn granted(&self) -> Access {
        self.rules
            .iter()
            .filter(|r| r.effect() == Effect::Allow)
            .fold(Access::empty(), |acc, r| acc | r.access())
    }

    /// The rules, in file order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Every gid some rule names in `groups`, sorted, each once. Only these of a client's
    /// supplementary groups can change a decision ([`Peer::groups`]), so a client's other
    /// groups need not be kept, nor compared with every rule.
    ///
    /// [`Peer::groups`]: crate::Peer::groups
    pub fn named_gids(&self) -> Vec<u32> {
        let mut gids: Vec<u32> = self
            .rules
            .iter()
            .flat_map(|r| r.subjects.gids())
            .copied()
            .collect();
        gids.sort_unstable();
        gids.dedup();
        gids
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::testing::{Names, policy};

    #[test]
    fn named_gids_are_every_group_rule_gid_once_sorted() {
        let p = policy(
            "version = 1\n\n[[rule]]\nname = \"a\"\ngroups = [9, 3]\nusers = [1]\npaths = [\"/a\"]\naccess = [\"read\"]\n\n[[rule]]\nname = \"b\"\ngroups = [3, 5]\npaths = [\"/b\"]\naccess = [\"read\"]\neffect = \"deny\"\n\n[[rule]]\nname = \"c\"\nusers = [\"*\"]\npaths = [\"/c\"]\naccess = [\"read\"]\n",
        );
        assert_eq!(p.named_gids(), [3, 5, 9]);
    }

    /// A file in the temporary directory holding `contents`, removed when dropped.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(tag: &str, contents: &[u8]) -> TempFile {
            let name = format!("fdbroker-policy-test-{}-{tag}.toml", std::process::id());
            let path = std::env::temp_dir().join(name);
            std::fs::write(&path, contents).expect("write temporary file");
            TempFile(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    const VALID: &str =
        "version = 1\n[[rule]]\nname = 'r'\nusers = ['*']\npaths = ['/x']\naccess = ['read']\n";

    #[test]
    fn granted_is_the_union_of_allow_rules_only() {
        let text = r#"version = 1
[[rule]]
name = "a"
users = ["*"]
paths = ["/a"]
access = ["read", "list"]
[[rule]]
name = "b"
users = ["*"]
paths = ["/b"]
access = ["write", "create_new"]
[[rule]]
name = "c"
users = ["*"]
paths = ["/c"]
access = ["write", "truncate", "create"]
effect = "deny"
"#;
        assert_eq!(
            policy(text).granted(),
            Access::READ | Access::LIST | Access::WRITE | Access::CREATE_NEW
        );
        assert_eq!(policy("version = 1\n").granted(), Access::empty());
    }

    #[test]
    fn load_reads_and_parses_the_file() {
        let file = TempFile::new("valid", VALID.as_bytes());
        let p = Policy::load(&file.0, &Names).expect("valid policy file");
        assert_eq!(p.rules()[0].name(), "r");
    }

    #[test]
    fn load_reports_every_error_with_the_file_name() {
        let file = TempFile::new("invalid", b"version = 2\nx = 1\n");
        let err = Policy::load(&file.0, &Names).expect_err("invalid policy");
        let shown = err.display_for(&file.0).to_string();
        let name = file.0.display();
        assert_eq!(
            shown,
            format!(
                "{name}:1:11: unsupported policy version 2: this fdbroker understands version = 1 only\n\
                 {name}:2:1: unknown key \"x\" at the top level (expected version, rule)"
            )
        );
    }

    #[test]
    fn load_reports_unreadable_files_as_io_errors() {
        let missing = std::env::temp_dir().join("fdbroker-policy-test-does-not-exist.toml");
        let err = Policy::load(&missing, &Names).expect_err("missing file");
        assert!(matches!(&err, LoadError::Io(e) if e.kind() == std::io::ErrorKind::NotFound));
        let shown = err.display_for(&missing).to_string();
        assert!(
            shown.starts_with(&format!("{}: cannot read: ", missing.display())),
            "{shown}"
        );
    }

    #[test]
    fn load_rejects_text_that_is_not_utf8_at_the_first_bad_byte() {
        let file = TempFile::new("latin1", b"version = 1\n# caf\xe9\n");
        let err = Policy::load(&file.0, &Names).expect_err("not UTF-8");
        assert_eq!(
            err.to_string(),
            "2:6: the file is not valid UTF-8 (first invalid byte here)"
        );
    }

    #[test]
    fn load_rejects_files_over_16_mib() {
        // Exactly 16 MiB is read in full: the error is about its last byte, not its size.
        let mut big = vec![b'\n'; (16 << 20) - 1];
        big.push(0xff);
        let file = TempFile::new("at-limit", &big);
        let err = Policy::load(&file.0, &Names).expect_err("not UTF-8");
        assert!(err.to_string().contains("not valid UTF-8"), "{err}");
        big.push(b'\n');
        let file = TempFile::new("over-limit", &big);
        let err = Policy::load(&file.0, &Names).expect_err("too big");
        assert_eq!(err.to_string(), "1:1: the file is larger than 16 MiB");
    }
}
