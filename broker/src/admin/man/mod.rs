//! `fdbroker man DIR`: the manual pages, generated from the program itself so they cannot
//! fall behind it: `fdbroker.8` from the command-line definitions ([`crate::cli`]), and
//! `fdbroker-policy.5`, the policy file reference, from a condensed text of the policy
//! crate's documentation. Packagers run it once per build (see `[package.metadata.deb]`).

mod cli_page;
mod policy_page;

use std::io;
use std::path::Path;

/// Writes `fdbroker.8` and `fdbroker-policy.5` into `dir` (created if missing), and prints
/// each path written.
pub fn write_pages(dir: &Path) -> io::Result<()> {
    fdbroker_manpage::write(dir, "fdbroker.8", &cli_page::render()?)?;
    fdbroker_manpage::write(dir, "fdbroker-policy.5", &policy_page::render()?)
}
