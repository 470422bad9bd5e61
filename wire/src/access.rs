//! The access words a client asks for and a policy rule grants.
//!
//! The bit values are part of the wire format (see the crate docs): never renumber them.
//!
//! Bit 2 was `append`, withdrawn because no fd can be append-only (see
//! [`APPEND_WITHDRAWN`]); it stays reserved, so that a request with it is refused with
//! that reason rather than as an unknown bit, and is never given another meaning.

use std::fmt;
use std::str::FromStr;

use crate::suggest;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

bitflags::bitflags! {
    /// A set of access words. The broker derives the open flags from it; a client never
    /// passes raw `O_*` flags.
    ///
    /// ```
    /// use fdbroker_wire::Access;
    ///
    /// let access: Access = "read,write".parse().unwrap();
    /// assert_eq!(access, Access::READ | Access::WRITE);
    /// assert_eq!(access.to_string(), "read,write");
    /// assert!((Access::READ | Access::TRUNCATE).check_request().is_err());
    /// assert!("append".parse::<Access>().is_err());
    /// ```
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct Access: u8 {
        /// Read the file's contents (`O_RDONLY`, or `O_RDWR` together with `WRITE`).
        const READ = 1 << 0;
        /// Write to the file (`O_WRONLY`, or `O_RDWR` together with `READ`).
        const WRITE = 1 << 1;
        /// Create the file if it is missing (`O_CREAT`), else open the file that is there;
        /// a created file is owned by the requesting client.
        const CREATE = 1 << 3;
        /// Truncate the file to zero length on open (`O_TRUNC`).
        const TRUNCATE = 1 << 4;
        /// Open a directory to read its entries (`O_DIRECTORY`).
        const LIST = 1 << 5;
        /// Create the file, exclusively (`O_CREAT|O_EXCL`): fail with `EEXIST` if the name
        /// exists, never open a file that is there.
        const CREATE_NEW = 1 << 6;
    }
}

/// The bit `append` had on the wire; reserved (see the module docs).
const APPEND_BIT: u8 = 1 << 2;

/// Why there is no `append` access word, for policies, command lines and the wire.
const APPEND_WITHDRAWN: &str = "`append` is not an access word: whoever holds an fd \
    can clear O_APPEND with fcntl(F_SETFL) and write anywhere in the file, so no fd can be \
    append-only; grant and ask for `write` instead";

/// The access words in bit order, as they are spelled in policy files and on command lines.
const WORDS: [(&str, Access); 6] = [
    ("read", Access::READ),
    ("write", Access::WRITE),
    ("create", Access::CREATE),
    ("truncate", Access::TRUNCATE),
    ("list", Access::LIST),
    ("create_new", Access::CREATE_NEW),
];

impl Access {
    /// The single access word `word` (`"read"`, `"write"`, ...), or `None` if it is not one.
    pub fn from_word(word: &str) -> Option<Access> {
        WORDS.iter().find(|(w, _)| *w == word).map(|(_, a)| *a)
    }

    /// Checks that this set makes sense as one request, so that the open flags derived from
    /// it are exactly what was asked for.
    ///
    /// Rules: not empty; not the withdrawn `append` bit; `list` stands alone (a directory
    /// fd is read-only); `create`, `create_new` and `truncate` modify a write and need
    /// `write` beside them (`O_RDONLY|O_TRUNC` would truncate a file through a "read-only"
    /// request); `create` and `create_new` exclude each other (one may open an existing
    /// file, the other never does).
    pub fn check_request(self) -> Result<(), &'static str> {
        if self.is_empty() {
            return Err("no access requested");
        }
        if self.bits() & APPEND_BIT != 0 {
            return Err(APPEND_WITHDRAWN);
        }
        if self.contains(Access::LIST) && self != Access::LIST {
            return Err("`list` cannot be combined with other access words");
        }
        if self.contains(Access::CREATE | Access::CREATE_NEW) {
            return Err("`create` and `create_new` exclude each other: \
                        `create` may open an existing file, `create_new` never does");
        }
        let modifies = Access::CREATE | Access::CREATE_NEW | Access::TRUNCATE;
        if self.intersects(modifies) && !self.contains(Access::WRITE) {
            return Err("`create`, `create_new` and `truncate` need `write`");
        }
        Ok(())
    }

    /// Whether a request for this set may create a file (`create` or `create_new`).
    pub fn creates(self) -> bool {
        self.intersects(Access::CREATE | Access::CREATE_NEW)
    }
}

impl fmt::Display for Access {
    /// Comma-separated access words in bit order, e.g. `read,write`; `none` for the empty set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        let mut sep = "";
        for (word, bit) in WORDS {
            if self.contains(bit) {
                f.write_str(sep)?;
                f.write_str(word)?;
                sep = ",";
            }
        }
        Ok(())
    }
}

/// The error from parsing an access list: the word that is not an access word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownAccessWord(pub String);

impl fmt::Display for UnknownAccessWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == "append" {
            return f.write_str(APPEND_WITHDRAWN);
        }
        let word = &self.0;
        match suggest(word, WORDS.map(|(w, _)| w)) {
            Some(meant) => write!(f, "unknown access word {word:?} (did you mean {meant:?}?)"),
            None => write!(
                f,
                "unknown access word {word:?} (expected read, write, create, create_new, truncate or list)"
            ),
        }
    }
}

impl std::error::Error for UnknownAccessWord {}

impl FromStr for Access {
    type Err = UnknownAccessWord;

    /// Parses a comma-separated list such as `read,write`.
    fn from_str(s: &str) -> Result<Access, UnknownAccessWord> {
        s.split(',').try_fold(Access::empty(), |acc, word| {
            let word = word.trim();
            Access::from_word(word)
                .map(|a| acc | a)
                .ok_or_else(|| UnknownAccessWord(word.to_owned()))
        })
    }
}

impl Serialize for Access {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.bits())
    }
}

impl<'de> Deserialize<'de> for Access {
    /// Rejects unknown bits, so a request can never carry a meaning this broker does not know.
    /// The withdrawn `append` bit is kept, for [`Access::check_request`] to refuse with its
    /// reason.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Access, D::Error> {
        let bits = u8::deserialize(d)?;
        match Access::from_bits(bits & !APPEND_BIT) {
            Some(_) => Ok(Access::from_bits_retain(bits)),
            None => Err(serde::de::Error::custom(format_args!(
                "unknown access bits {bits:#x}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_through_display_and_parse() {
        let a = Access::READ | Access::CREATE_NEW | Access::LIST;
        assert_eq!(a.to_string(), "read,list,create_new");
        assert_eq!("read,create_new,list".parse::<Access>(), Ok(a));
        assert_eq!(
            " read , write".parse::<Access>(),
            Ok(Access::READ | Access::WRITE)
        );
        assert_eq!(
            "read,exec".parse::<Access>(),
            Err(UnknownAccessWord("exec".into()))
        );
        assert_eq!(Access::empty().to_string(), "none");
    }

    /// A near miss names the word meant; anything else lists the words.
    #[test]
    fn unknown_words_suggest_the_word_meant_or_list_the_words() {
        let message = |s: &str| s.parse::<Access>().unwrap_err().to_string();
        assert_eq!(
            message("read,lsit"),
            "unknown access word \"lsit\" (did you mean \"list\"?)"
        );
        assert_eq!(
            message("write,create-new"),
            "unknown access word \"create-new\" (did you mean \"create_new\"?)"
        );
        assert_eq!(
            message("Read"),
            "unknown access word \"Read\" (did you mean \"read\"?)"
        );
        assert_eq!(
            message("exec"),
            "unknown access word \"exec\" (expected read, write, create, create_new, truncate or list)"
        );
    }

    #[test]
    fn request_shapes() {
        assert!(Access::READ.check_request().is_ok());
        assert!(
            (Access::WRITE | Access::CREATE | Access::TRUNCATE)
                .check_request()
                .is_ok()
        );
        assert!(
            (Access::READ | Access::WRITE | Access::CREATE_NEW)
                .check_request()
                .is_ok()
        );
        assert!(Access::LIST.check_request().is_ok());
        assert!(Access::empty().check_request().is_err());
        assert!((Access::LIST | Access::READ).check_request().is_err());
        assert!((Access::READ | Access::TRUNCATE).check_request().is_err());
        assert!(Access::CREATE.check_request().is_err());
        assert!((Access::READ | Access::CREATE_NEW).check_request().is_err());
        let both = Access::WRITE | Access::CREATE | Access::CREATE_NEW;
        assert!(both.check_request().is_err());
    }

    /// `append` is refused by name and, on the wire, by its reserved bit, with the reason.
    #[test]
    fn append_is_withdrawn_with_its_reason() {
        let err = "read,append".parse::<Access>().unwrap_err();
        assert_eq!(err.to_string(), APPEND_WITHDRAWN);
        assert_eq!(Access::from_word("append"), None);
        let retained = Access::from_bits_retain(APPEND_BIT | Access::WRITE.bits());
        assert_eq!(retained.check_request(), Err(APPEND_WITHDRAWN));
        assert!(Access::all().bits() & APPEND_BIT == 0);
    }
}
