//! clap's help texts in roff. They are written for `--help`, where a word to type as it
//! is (`read`, `--`) stands between backticks as in Markdown; a man page shows such a
//! word in bold instead, as the pages' own text does ([`crate::inline`]). clap_mangen
//! copies the texts as they are, so the backticks are turned into font changes in what
//! it renders.

/// `roff` (as rendered by clap_mangen) with each pair of backticks on a text line turned
/// into bold around the words between them. Control lines and no-fill blocks (literal
/// examples) are left as they are, as is a line with an unpaired backtick.
pub fn bold_backticked(roff: &str) -> String {
    let mut out = String::with_capacity(roff.len());
    let mut literal = false;
    for line in roff.split_inclusive('\n') {
        let content = line.trim_end_matches('\n');
        match content {
            ".nf" => literal = true,
            ".fi" => literal = false,
            _ => {}
        }
        let control = content.starts_with('.') || content.starts_with('\'');
        if literal || control || content.matches('`').count() % 2 != 0 {
            out.push_str(line);
            continue;
        }
        for (i, piece) in content.split('`').enumerate() {
            if i % 2 == 1 {
                out.push_str("\\fB");
                out.push_str(piece);
                out.push_str("\\fR");
            } else {
                out.push_str(piece);
            }
        }
        out.push_str(&line[content.len()..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backticked_words_become_bold_outside_examples() {
        let roff = ".TP\n\\fB\\-\\-access\\fR\nmust include `read`, after `\\-\\-`\n.nf\necho `date`\n.fi\nan odd ` stays\n";
        assert_eq!(
            bold_backticked(roff),
            ".TP\n\\fB\\-\\-access\\fR\nmust include \\fBread\\fR, after \\fB\\-\\-\\fR\n.nf\necho `date`\n.fi\nan odd ` stays\n"
        );
    }
}
