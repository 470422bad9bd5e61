//! `fdagent man DIR`: writes `fdagent.1`, generated from the command-line definitions so it
//! cannot fall behind them, with the examples and exit codes `--help` shows.

use std::io;
use std::path::Path;

use clap::CommandFactory;
use fdbroker_manpage::{command_page, literal, paragraph, tagged};
use roff::Roff;

use crate::{Cli, exit, help};

/// Writes `fdagent.1` into `dir` (created if missing) and prints its path.
pub fn write_page(dir: &Path) -> io::Result<()> {
    let page = command_page(
        Cli::command(),
        "FDAGENT",
        "1",
        "User Commands",
        &reference(),
    )?;
    fdbroker_manpage::write(dir, "fdagent.1", &page)
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
