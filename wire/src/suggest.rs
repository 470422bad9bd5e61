//! "Did you mean" for a word that is not one of a few known words: access words, policy
//! keys, effects. It lives here, beside the access words, so that the policy crate and the
//! command lines (which parse access words through this crate) suggest alike.

/// Most edits between a misspelling and the word it suggests: enough for a slip of the
/// finger or two, few enough not to suggest a word the writer never meant.
const MAX_EDITS: usize = 2;

/// The known word `word` is most likely a misspelling of, if one stands out: the word it
/// differs from only in case or in `-` for `_`, else the single nearest one at most
/// two edits away (insertion, deletion, substitution, or swapping two adjacent
/// letters). `None` when no known word is that close, or two are equally close: a wrong
/// guess misleads more than the list of valid words does.
///
/// ```
/// use fdbroker_wire::suggest;
///
/// let words = ["read", "write", "list", "create", "create_new"];
/// assert_eq!(suggest("raed", words), Some("read"));
/// assert_eq!(suggest("create-new", words), Some("create_new"));
/// assert_eq!(suggest("exec", words), None);
/// ```
pub fn suggest<'a>(word: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word = normalize(word);
    let mut best: Option<(usize, &str)> = None;
    let mut tied = false;
    for candidate in known {
        let Some(edits) = edits(&word, &normalize(candidate)) else {
            continue;
        };
        match best {
            Some((least, _)) if edits > least => {}
            Some((least, _)) if edits == least => tied = true,
            _ => (best, tied) = (Some((edits, candidate)), false),
        }
    }
    best.filter(|_| !tied).map(|(_, candidate)| candidate)
}

/// `word` in lower case with `-` as `_`, the differences a writer does not see as spelling.
fn normalize(word: &str) -> Vec<char> {
    word.chars()
        .flat_map(char::to_lowercase)
        .map(|c| if c == '-' { '_' } else { c })
        .collect()
}

/// The optimal string alignment distance between `a` and `b` (Levenshtein, plus swapping two
/// adjacent characters as one edit), or `None` if it is over [`MAX_EDITS`]. Words whose
/// lengths differ by more than that are refused before any work, so a long input costs
/// nothing.
fn edits(a: &[char], b: &[char]) -> Option<usize> {
    if a.len().abs_diff(b.len()) > MAX_EDITS {
        return None;
    }
    // d[i][j]: edits between the first i characters of a and the first j of b.
    let mut d = vec![vec![0; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let substitution = d[i - 1][j - 1] + usize::from(a[i - 1] != b[j - 1]);
            let mut best = substitution.min(d[i - 1][j] + 1).min(d[i][j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    Some(d[a.len()][b.len()]).filter(|&n| n <= MAX_EDITS)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: [&str; 7] = [
        "name",
        "users",
        "groups",
        "paths",
        "access",
        "effect",
        "create_mode",
    ];

    #[test]
    fn near_misses_suggest_the_word_meant() {
        let cases = [
            ("acess", "access"),   // deletion
            ("accesss", "access"), // insertion
            ("effekt", "effect"),  // substitution
            ("paht", "paths"),     // swap and deletion
            ("gropus", "groups"),  // swap
            ("Users", "users"),    // case
            ("create-mode", "create_mode"),
            ("CREATE-MODE", "create_mode"),
        ];
        for (typo, meant) in cases {
            assert_eq!(suggest(typo, KEYS), Some(meant), "{typo}");
        }
        assert_eq!(suggest("alow", ["allow", "deny"]), Some("allow"));
        assert_eq!(suggest("lsit", ["read", "list"]), Some("list"));
    }

    #[test]
    fn far_or_ambiguous_words_suggest_nothing() {
        for word in ["comment", "colour", "exec", "", "p", "a-much-longer-word"] {
            assert_eq!(suggest(word, KEYS), None, "{word}");
        }
        // One edit from both: no guess.
        assert_eq!(suggest("bat", ["bad", "cat"]), None);
        // The nearest wins over one further away.
        assert_eq!(suggest("cat", ["bad", "cat", "cut"]), Some("cat"));
        assert_eq!(suggest("anything", []), None);
    }

    #[test]
    fn edits_counts_each_kind_of_edit_once() {
        let n = |a: &str, b: &str| edits(&normalize(a), &normalize(b));
        assert_eq!(n("read", "read"), Some(0));
        assert_eq!(n("raed", "read"), Some(1));
        assert_eq!(n("red", "read"), Some(1));
        assert_eq!(n("rread", "read"), Some(1));
        assert_eq!(n("reed", "read"), Some(1));
        assert_eq!(n("paht", "paths"), Some(2));
        assert_eq!(n("rd", "read"), Some(2));
        assert_eq!(n("write", "read"), None);
        assert_eq!(n("r", "read"), None);
    }
}
