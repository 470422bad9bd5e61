//! fdbroker's manual pages: assembling a man page from pieces rendered by `clap_mangen` and `roff`.
//!
//! Both render through `roff::Roff`, which starts every piece with a two-line preamble
//! defining the `Aq` string (for apostrophes). A page needs it once, and after its `.TH`
//! line, so that the page starts with `.TH` as man(7) tools expect; [`Page`] keeps the first
//! preamble and drops the others.
//!
//! clap_mangen documents one command per page. A page that documents its subcommands too
//! (`fdbroker serve`, `fdagent ls`, ...) gets one `.SS` block per subcommand, made of the
//! bodies of clap_mangen's own sections for it, without their `.SH` lines
//! ([`Page::commands`]).
//!
//! The broker (`fdbroker.8`, `fdbroker-policy.5`) and the agent (`fdagent.1`) both build
//! their pages with it; [`command_page`] is the page of a whole command line.
//!
//! The shell completions packaging installs next to the pages come from the same
//! definitions ([`completions`]).

#![forbid(unsafe_code)]

pub mod completions;
mod help_text;
mod synopsis;

use std::io::{self, Write};

use clap_mangen::Man;
use roff::{Roff, bold, roman};

/// The `.TH` date argument: empty, so that a build does not change the pages, but quoted,
/// since roff writes an empty argument as nothing and the ones after it would shift left.
pub const NO_DATE: &str = "\"\"";

/// A man page being assembled, piece by piece.
#[derive(Debug, Default)]
pub struct Page {
    /// The first preamble seen, to emit once after `.TH`.
    preamble: String,
    /// Everything else, in order; it must start with the `.TH` line.
    body: String,
}

impl Page {
    /// Appends rendered roff text (as from `Roff::render`).
    pub fn push(&mut self, rendered: &str) {
        let (preamble, rest) = split_preamble(rendered);
        if self.preamble.is_empty() {
            self.preamble.push_str(preamble);
        }
        self.body.push_str(rest);
    }

    /// Appends `roff`.
    pub fn roff(&mut self, roff: &Roff) {
        self.push(&roff.render());
    }

    /// Appends a piece rendered by `render`, a `clap_mangen::Man::render_*` method, with
    /// the backticked words of clap's help texts in bold.
    pub fn clap(
        &mut self,
        render: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<()> {
        self.push(&help_text::bold_backticked(&rendered(render)?));
        Ok(())
    }

    /// Appends the body of a clap_mangen section, without its `.SH` line, with the
    /// backticked words of clap's help texts in bold.
    pub fn clap_body(
        &mut self,
        render: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<()> {
        let text = help_text::bold_backticked(&rendered(render)?);
        let (preamble, rest) = split_preamble(&text);
        let body = match rest.split_once('\n') {
            Some((heading, body)) if heading.starts_with(".SH") => body,
            _ => rest,
        };
        self.push(&format!("{preamble}{body}"));
        Ok(())
    }

    /// A `.SH` section `heading` documenting each visible subcommand of `cmd` (built, so
    /// that their names read `fdbroker serve`): its synopsis (with its arguments as its
    /// usage shows them, [`synopsis`]), description, arguments and
    /// options, and its `after_help` as an example in no-fill mode. Each subcommand's
    /// `--help` and the global options are left to the page's own OPTIONS section.
    pub fn commands(&mut self, heading: &str, cmd: &clap::Command) -> io::Result<()> {
        let mut head = Roff::new();
        head.control("SH", [heading]);
        self.roff(&head);
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            let name = sub
                .get_bin_name()
                .unwrap_or_else(|| sub.get_name())
                .to_owned();
            let sub = sub.clone().mut_args(|arg| {
                let inherited = arg.get_id() == "help" || arg.is_global_set();
                arg.hide(inherited)
            });
            let after_help = sub.get_after_help().map(|h| h.to_string());
            let synopsis = synopsis::render(&sub)?;
            let man = Man::new(sub);
            let mut title = Roff::new();
            title.control("SS", [name.as_str()]);
            self.roff(&title);
            self.push(&synopsis);
            let mut gap = Roff::new();
            gap.control("PP", []);
            self.roff(&gap);
            self.clap_body(|w| man.render_description_section(w))?;
            self.clap_body(|w| man.render_options_section(w))?;
            if let Some(text) = after_help {
                self.roff(&literal(&text));
            }
        }
        Ok(())
    }

    /// The page: its `.TH` line, the preamble, then the rest.
    pub fn finish(self) -> io::Result<String> {
        match self.body.split_once('\n') {
            Some((title, rest)) if title.starts_with(".TH ") => {
                Ok(format!("{title}\n{}{rest}", self.preamble))
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a man page must start with its .TH line",
            )),
        }
    }
}

/// `text` as an indented block in no-fill mode, lines kept as written (examples, command
/// lines), after a paragraph break.
pub fn literal(text: &str) -> Roff {
    let mut roff = Roff::new();
    roff.control("PP", [])
        .control("RS", ["4"])
        .control("nf", []);
    for line in text.lines() {
        roff.text([roman(line)]);
    }
    roff.control("fi", []).control("RE", []);
    roff
}

/// One paragraph of `text`, where each `` `word` `` is set in bold (names to type
/// literally: keys, flags, values) and the rest in roman.
pub fn paragraph(roff: &mut Roff, text: &str) {
    roff.control("PP", []);
    roff.text(inline(text));
}

/// A tagged paragraph: `term` in bold, then `text` (with `` ` `` marking bold words).
pub fn tagged(roff: &mut Roff, term: &str, text: &str) {
    roff.control("TP", []);
    roff.text([bold(term)]);
    roff.text(inline(text));
}

/// `text` with every `` `word` `` in bold: odd pieces between backticks are bold.
pub fn inline(text: &str) -> Vec<roff::Inline> {
    text.split('`')
        .enumerate()
        .filter(|(_, piece)| !piece.is_empty())
        .map(|(i, piece)| {
            if i % 2 == 1 {
                bold(piece)
            } else {
                roman(piece)
            }
        })
        .collect()
}

/// What `render` writes, as text (roff output is UTF-8 when its input is).
fn rendered(render: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<String> {
    let mut buf = Vec::new();
    render(&mut buf)?;
    String::from_utf8(buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Splits roff's `Aq` preamble (`.ie`/`.el` lines at the start) from the rest.
fn split_preamble(rendered: &str) -> (&str, &str) {
    let end = rendered
        .split_inclusive('\n')
        .take_while(|line| line.starts_with(".ie ") || line.starts_with(".el "))
        .map(str::len)
        .sum();
    rendered.split_at(end)
}

/// The page of a whole command line, `title(section)`: name, synopsis, description,
/// options, one block per subcommand (with their options), then `reference` (what
/// `--help` has no room for: files, environment, exit status, see also) and the version.
pub fn command_page(
    cmd: clap::Command,
    title: &str,
    section: &str,
    manual: &str,
    reference: &Roff,
) -> io::Result<String> {
    // No `help` subcommand: the page documents `--help` once, as an option.
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let man = Man::new(cmd.clone())
        .title(title.to_owned())
        .section(section.to_owned())
        .date(NO_DATE)
        .manual(manual.to_owned());
    let mut page = Page::default();
    page.clap(|w| man.render_title(w))?;
    page.clap(|w| man.render_name_section(w))?;
    page.clap(|w| man.render_synopsis_section(w))?;
    page.clap(|w| man.render_description_section(w))?;
    page.clap(|w| man.render_options_section(w))?;
    page.commands("COMMANDS", &cmd)?;
    page.roff(reference);
    page.clap(|w| man.render_version_section(w))?;
    page.finish()
}

/// Writes `text` as `dir/name` (creating `dir`) and prints the path written.
pub fn write(dir: &std::path::Path, name: &str, text: &str) -> io::Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
    let path = dir.join(name);
    std::fs::write(&path, text)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    println!("{}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_title_comes_first_and_the_preamble_once() {
        let mut page = Page::default();
        let mut title = Roff::new();
        title.control("TH", ["X", "1"]);
        page.roff(&title);
        let mut text = Roff::new();
        text.text([roman("it's")]);
        page.roff(&text);
        page.roff(&text);
        let out = page.finish().expect("a page");
        assert!(out.starts_with(".TH X 1\n.ie "), "{out}");
        assert_eq!(out.matches(".ds Aq").count(), 2, "one .ie/.el pair: {out}");
        assert!(out.ends_with("it\\*(Aqs\nit\\*(Aqs\n"), "{out}");
    }

    #[test]
    fn a_page_without_a_title_is_refused() {
        let mut page = Page::default();
        page.roff(&literal("x"));
        assert!(page.finish().is_err());
    }

    #[test]
    fn backticks_mark_bold_words() {
        let mut roff = Roff::new();
        paragraph(&mut roff, "the `name` key, `-` and `a-b`");
        assert_eq!(
            roff.to_roff(),
            ".PP\nthe \\fBname\\fR key, \\fB\\-\\fR and \\fBa\\-b\\fR\n"
        );
    }
}
