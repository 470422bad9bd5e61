//! `fdagent man DIR`: writes `fdagent.1`, generated from the command-line definitions so it
//! cannot fall behind them, with the examples and exit codes `--help` shows.

mod page;

use std::io;
use std::path::Path;

use clap::CommandFactory;
use clap_mangen::Man;
use roff::Roff;

use crate::{Cli, exit, help};
use page::{NO_DATE, Page, literal, paragraph, tagged};

/// Writes `fdagent.1` into `dir` (created if missing) and prints its path.
pub fn write_page(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
    let path = dir.join("fdagent.1");
    std::fs::write(&path, render()?)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    println!("{}", path.display());
    Ok(())
}

/// The page's text.
fn render() -> io::Result<String> {
    // No `help` subcommand: the page documents `--help` once, as an option.
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let man = Man::new(cmd.clone())
        .title("FDAGENT")
        .section("1")
        .date(NO_DATE)
        .manual("User Commands");
    let mut page = Page::default();
    page.clap(|w| man.render_title(w))?;
    page.clap(|w| man.render_name_section(w))?;
    page.clap(|w| man.render_synopsis_section(w))?;
    page.clap(|w| man.render_description_section(w))?;
    page.clap(|w| man.render_options_section(w))?;
    page.commands("COMMANDS", &cmd)?;
    page.roff(&reference());
    page.clap(|w| man.render_version_section(w))?;
    page.finish()
}

/// EXAMPLES, EXIT STATUS, ENVIRONMENT and SEE ALSO.
fn reference() -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["EXAMPLES"]);
    for (what, command) in help::EXAMPLES {
        paragraph(&mut roff, &format!("{what}:"));
        roff.extend([literal(command)]);
    }
    roff.control("SH", ["EXIT STATUS"]);
    for (code, meaning) in exit::TABLE {
        tagged(&mut roff, &code.to_string(), meaning);
    }
    paragraph(&mut roff, exit::EXEC_NOTE);
    roff.control("SH", ["ENVIRONMENT"]);
    tagged(
        &mut roff,
        "FDBROKER_SOCKET",
        "The broker's socket when `--socket` is not given; without either, \
         `/run/fdbroker.sock`.",
    );
    roff.control("SH", ["SEE ALSO"]);
    paragraph(&mut roff, "fdbroker(8), fdbroker-policy(5), clamdscan(1)");
    roff
}
