//! A subcommand's synopsis line. clap_mangen renders a command's name and options well,
//! but writes its arguments without the `...` of one that takes several values and
//! without the `--` that must come before one clap takes only after it (`last`, as
//! `fdagent exec`'s CMD): a reader would type a command line that does not work. So
//! clap_mangen renders the name and options, and the arguments are added here as the
//! command's `--help` usage shows them (`<PATH> -- <CMD>...`).

use std::io;

use clap_mangen::Man;
use roff::{Inline, Roff, bold, italic, roman};

/// The synopsis of `cmd` (a built command) as roff: one text line, without a heading.
pub fn render(cmd: &clap::Command) -> io::Result<String> {
    let options_only = cmd.clone().mut_args(|arg| {
        if arg.is_positional() {
            arg.hide(true)
        } else {
            arg
        }
    });
    let man = Man::new(options_only);
    let text = crate::rendered(|w| man.render_synopsis_section(w))?;
    let (_, rest) = crate::split_preamble(&text);
    let mut line = rest
        .lines()
        .find(|l| !l.starts_with('.'))
        .unwrap_or_default()
        .trim_end()
        .to_owned();
    for arg in cmd.get_positionals().filter(|arg| !arg.is_hide_set()) {
        let mut roff = Roff::new();
        roff.text(argument(arg));
        line.push(' ');
        line.push_str(roff.to_roff().trim_end());
    }
    line.push('\n');
    Ok(line)
}

/// One positional argument as clap's usage writes it: `<NAME>` if required, else
/// `[NAME]`, then `...` if it takes several values; after `--` if it comes only after it.
fn argument(arg: &clap::Arg) -> Vec<Inline> {
    let name = arg
        .get_value_names()
        .map(|names| names.join(" "))
        .unwrap_or_else(|| arg.get_id().as_str().to_uppercase());
    let several = arg
        .get_num_args()
        .is_some_and(|range| range.max_values() > 1);
    let required = arg.is_required_set();
    let mut inline = Vec::new();
    if arg.is_last_set() {
        if !required {
            inline.push(roman("["));
        }
        inline.push(bold("--"));
        inline.push(roman(" <"));
    } else {
        inline.push(roman(if required { "<" } else { "[" }));
    }
    inline.push(italic(name));
    inline.push(roman(if required || arg.is_last_set() {
        ">"
    } else {
        "]"
    }));
    if several {
        inline.push(roman("..."));
    }
    if arg.is_last_set() && !required {
        inline.push(roman("]"));
    }
    inline
}
