//! The manual pages: `fdbroker man DIR` writes `fdbroker.8` and `fdbroker-policy.5`,
//! `fdagent man DIR` writes `fdagent.1`. Each starts with its `.TH` line and documents
//! every subcommand and flag that `--help` lists (taken from `--help` itself, so a new
//! flag without a page fails here), the policy page every key and access word of the
//! policy crate's reference, and, where `man` is installed, each renders without warnings.
//! None of this needs root.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{Tree, write_policy};

/// Runs `program args` (as the test's own user) and returns its stdout; fails unless it
/// exits 0.
fn stdout_of(tree: &Tree, program: &Path, args: &[&str]) -> String {
    let out = tree.cmd(program).args(args).run();
    out.code_is(0);
    out.stdout_str()
}

/// The names listed under `Commands:` in `--help` output, without `help`.
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

/// The options (`-v`, `--verbose`) and positional arguments (`<FILE>`) that `--help`
/// output lists, one entry per line of its `Options:` and `Arguments:` sections.
fn flags_and_arguments(help: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut section = "";
    for line in help.lines().filter(|l| !l.trim().is_empty()) {
        if !line.starts_with(' ') {
            section = line;
            continue;
        }
        // An entry starts at most 6 columns in (`  -v, --verbose`, `      --policy`);
        // help text, its continuation lines and possible values are indented further.
        if line.len() - line.trim_start().len() > 6 {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if section.ends_with("Options:") {
            found.extend(
                words
                    .iter()
                    .take_while(|w| w.starts_with('-'))
                    .map(|w| w.trim_end_matches(',').to_owned()),
            );
        } else if section == "Arguments:" {
            found.extend(words.first().map(|w| w.trim_end_matches("...").to_owned()));
        }
    }
    found
}

/// Roff source as a reader sees it, near enough to search for names: no font changes,
/// `\-` as `-`, `\*(Aq` as `'`, `\\` as `\`.
fn plain(roff: &str) -> String {
    roff.replace("\\fB", "")
        .replace("\\fI", "")
        .replace("\\fR", "")
        .replace("\\&", "")
        .replace("\\-", "-")
        .replace("\\*(Aq", "'")
        .replace("\\\\", "\\")
}

/// Every command and flag of `bin` (`fdbroker`, `fdagent`), by its `--help` output:
/// `(subcommand or "", flag)` pairs.
fn documented_by_help(tree: &Tree, bin: &Path) -> (Vec<String>, Vec<(String, String)>) {
    let top = stdout_of(tree, bin, &["--help"]);
    let commands = subcommands(&top);
    assert!(commands.len() >= 3, "no commands found in:\n{top}");
    let mut flags: Vec<(String, String)> = flags_and_arguments(&top)
        .into_iter()
        .map(|f| (String::new(), f))
        .collect();
    for command in &commands {
        let help = stdout_of(tree, bin, &[command, "--help"]);
        flags.extend(
            flags_and_arguments(&help)
                .into_iter()
                .map(|f| (command.clone(), f)),
        );
    }
    // A parser that lost its way would find next to nothing, and check nothing.
    assert!(flags.len() >= 25, "too few flags found: {flags:?}");
    (commands, flags)
}

/// The option entries of a page (roff made [`plain`]): each `.TP` line's next line (the
/// entry's heading: `-v, --verbose`, `--policy <FILE> [default: ...]`, `<PATH>`) with the
/// one after it (the help text), keyed by the command whose block they are in: `""`
/// before the first `.SS` heading, else the `.SS` heading's text.
fn option_entries(text: &str) -> Vec<(String, String, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut block = String::new();
    let mut entries = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if let Some(heading) = line.strip_prefix(".SS ") {
            block = heading.trim_matches('"').to_owned();
        } else if *line == ".TP" && i + 2 < lines.len() {
            entries.push((
                block.clone(),
                lines[i + 1].to_owned(),
                lines[i + 2].to_owned(),
            ));
        }
    }
    entries
}

/// Asserts that `page` (roff source) starts with `.TH TITLE SECTION ` and documents every
/// command (as its own `.SS` heading, `PROGRAM COMMAND`) and every flag and argument that
/// `--help` lists, each as an option entry with a help text, in its command's block (or,
/// for `--help` and global options, in the page's own OPTIONS).
#[track_caller]
fn assert_documents_cli(page: &Path, title: &str, section: &str, tree: &Tree, bin: &Path) {
    let source = std::fs::read_to_string(page).expect("read the page");
    let th = format!(".TH {title} {section} ");
    assert!(
        source.starts_with(&th),
        "{} does not start with {th:?}",
        page.display()
    );
    let text = plain(&source);
    let program = bin.file_name().expect("a name").to_string_lossy();
    let (commands, flags) = documented_by_help(tree, bin);
    for command in &commands {
        let heading = format!(".SS \"{program} {command}\"\n");
        assert!(
            text.contains(&heading),
            "{}: no {heading:?}",
            page.display()
        );
    }
    let entries = option_entries(&text);
    for (command, flag) in flags {
        let block = if command.is_empty() {
            String::new()
        } else {
            format!("{program} {command}")
        };
        let documented = entries.iter().any(|(b, heading, help)| {
            (*b == block || b.is_empty())
                && heading.split([' ', ',']).any(|word| word == flag)
                && !help.is_empty()
                && !help.starts_with('.')
        });
        assert!(
            documented,
            "{}: `{program} {command} --help` lists {flag}, the page has no entry with help text for it",
            page.display()
        );
    }
}

/// Where `name` is installed, if it is.
fn installed(name: &str) -> Option<PathBuf> {
    ["/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin"]
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
}

/// Renders `page` with `man -l` and asserts no warnings (all of groff's, `-w w`) and the
/// expected header; without `man`, says that it was not checked.
fn assert_renders(page: &Path, header: &str) {
    let Some(man) = installed("man") else {
        let _ = writeln!(
            std::io::stderr(),
            "NOTE {}: not rendered: `man` is not installed (install man-db to check it)",
            page.display()
        );
        return;
    };
    // A clean environment: a locale that is not installed would make man warn about it.
    let out = Command::new(man)
        .args(["--warnings=w", "-l"])
        .arg(page)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("LC_ALL", "C.UTF-8")
        .env("MANWIDTH", "80")
        .env("MANPAGER", "cat")
        .output()
        .expect("run man");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "man -l {}: {}\n{stderr}",
        page.display(),
        out.status
    );
    assert!(
        stderr.is_empty(),
        "man -l {} warned:\n{stderr}",
        page.display()
    );
    assert!(
        stdout.starts_with(header) && stdout.contains("\nNAME\n"),
        "man -l {} rendered:\n{stdout}",
        page.display()
    );
}

#[test]
fn fdbroker_man_writes_a_page_documenting_every_command_and_flag() {
    let tree = Tree::new();
    let fdbroker = tree.bin("fdbroker");
    let dir = tree.path("man");
    let written = stdout_of(&tree, &fdbroker, &["man", dir.to_str().expect("UTF-8")]);
    assert_eq!(
        written,
        format!(
            "{}\n{}\n",
            dir.join("fdbroker.8").display(),
            dir.join("fdbroker-policy.5").display()
        )
    );
    assert_documents_cli(&dir.join("fdbroker.8"), "FDBROKER", "8", &tree, &fdbroker);
    assert_renders(&dir.join("fdbroker.8"), "FDBROKER(8)");
    // The hidden `man` command is for packagers, not in the page.
    let text = plain(&std::fs::read_to_string(dir.join("fdbroker.8")).expect("read"));
    assert!(!text.contains("fdbroker man"), "{text}");
}

#[test]
fn fdagent_man_writes_a_page_with_every_command_flag_and_exit_status() {
    let tree = Tree::new();
    let fdagent = tree.bin("fdagent");
    let dir = tree.path("man");
    let page = dir.join("fdagent.1");
    let written = stdout_of(&tree, &fdagent, &["man", dir.to_str().expect("UTF-8")]);
    assert_eq!(written, format!("{}\n", page.display()));
    assert_documents_cli(&page, "FDAGENT", "1", &tree, &fdagent);
    assert_renders(&page, "FDAGENT(1)");
    // Every exit status of `--help`'s table, each as a tagged paragraph of EXIT STATUS.
    let help = stdout_of(&tree, &fdagent, &["--help"]);
    let codes: Vec<&str> = help
        .lines()
        .skip_while(|l| *l != "Exit status:")
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.parse::<u8>().is_ok())
        .collect();
    assert!(codes.contains(&"77") && codes.len() >= 10, "{help}");
    let text = plain(&std::fs::read_to_string(&page).expect("read"));
    let exit_status = text
        .split_once(".SH \"EXIT STATUS\"\n")
        .map(|(_, rest)| rest)
        .expect("an EXIT STATUS section");
    for code in codes {
        assert!(
            exit_status.contains(&format!(".TP\n{code}\n")),
            "no exit status {code}"
        );
    }
}

/// The keys and access words of the policy file reference, from the policy crate's doc:
/// the top-level keys listed after "The top level has exactly two keys", the rule keys of
/// its table, and the access words of the table's `access` row.
fn policy_reference_words() -> Vec<String> {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("policy/src/lib.rs"))
            .expect("read policy/src/lib.rs");
    let lines: Vec<&str> = doc.lines().filter_map(|l| l.strip_prefix("//!")).collect();
    let backticked =
        |s: &str| -> Vec<String> { s.split('`').skip(1).step_by(2).map(str::to_owned).collect() };
    let mut words: Vec<String> = lines
        .iter()
        .skip_while(|l| !l.contains("The top level has exactly"))
        .skip(1)
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.trim().strip_prefix("- "))
        .flat_map(|l| backticked(l).into_iter().take(1))
        .collect();
    for row in lines.iter().filter(|l| l.trim_start().starts_with("| `")) {
        let cells: Vec<&str> = row.split('|').collect();
        words.extend(backticked(cells[1]));
        if cells[1].contains("`access`") {
            words.extend(backticked(cells[3]));
        }
    }
    words
}

#[test]
fn the_policy_page_covers_the_reference_and_its_example_is_valid() {
    let tree = Tree::new();
    let fdbroker = tree.bin("fdbroker");
    let dir = tree.path("man");
    stdout_of(&tree, &fdbroker, &["man", dir.to_str().expect("UTF-8")]);
    let page = dir.join("fdbroker-policy.5");
    let source = std::fs::read_to_string(&page).expect("read the page");
    assert!(source.starts_with(".TH FDBROKER-POLICY 5 "), "{source}");
    let words = policy_reference_words();
    for expected in [
        "version",
        "rule",
        "name",
        "create_mode",
        "read",
        "truncate",
        "list",
    ] {
        assert!(
            words.iter().any(|w| w == expected),
            "{expected} not in {words:?}"
        );
    }
    for word in &words {
        let entry = format!(".TP\n\\fB{}\\fR\n", word.replace('-', "\\-"));
        assert!(
            source.contains(&entry),
            "the policy page has no entry for {word}"
        );
    }
    assert_renders(&page, "FDBROKER-POLICY(5)");

    // The EXAMPLES section's policy (its first no-fill block) loads.
    let examples = source
        .split_once(".SH EXAMPLES\n")
        .map(|(_, rest)| rest)
        .expect("an EXAMPLES section");
    let example = examples
        .split_once(".nf\n")
        .and_then(|(_, rest)| rest.split_once(".fi\n"))
        .map(|(block, _)| plain(block))
        .expect("an example block");
    assert!(example.contains("[[rule]]"), "{example}");
    write_policy(&tree.path("example.toml"), &example);
    let out = tree
        .cmd(&fdbroker)
        .args(["check", &tree.p("example.toml")])
        .run();
    out.code_is(0);
}

/// The pages of both binaries, written into `tree/man`: `(file name, roff source)`.
fn all_pages(tree: &Tree) -> Vec<(String, String)> {
    let dir = tree.path("man");
    for bin in ["fdbroker", "fdagent"] {
        stdout_of(tree, &tree.bin(bin), &["man", dir.to_str().expect("UTF-8")]);
    }
    ["fdbroker.8", "fdbroker-policy.5", "fdagent.1"]
        .iter()
        .map(|name| {
            let source = std::fs::read_to_string(dir.join(name)).expect("read a page");
            (name.to_string(), source)
        })
        .collect()
}

#[test]
fn no_man_page_shows_markdown_backticks() {
    let tree = Tree::new();
    let mut found = Vec::new();
    for (name, source) in all_pages(&tree) {
        // Literal examples (no-fill blocks) are shown as written: a shell example may
        // hold a backtick.
        let mut literal = false;
        for (number, line) in source.lines().enumerate() {
            match line {
                ".nf" => literal = true,
                ".fi" => literal = false,
                _ if !literal && line.contains('`') => {
                    found.push(format!("{name}:{}: {line}", number + 1));
                }
                _ => {}
            }
        }
    }
    assert!(
        found.is_empty(),
        "Markdown backticks in the man pages (set the word in bold instead):\n{}",
        found.join("\n")
    );
}

/// The arguments part of a usage or synopsis line: its words after the command's name,
/// without the options (`[OPTIONS]`, `[--policy]`, `[-v|--verbose]`, `<--access>`, and
/// `--access <ACCESS>` as `--help` writes a required one).
fn arguments_part(words: &[&str]) -> Vec<String> {
    let mut kept = Vec::new();
    let mut words = words.iter().peekable();
    while let Some(word) = words.next() {
        if *word == "[OPTIONS]" || word.starts_with("[-") || word.starts_with("<-") {
            continue;
        }
        if word.starts_with("--") && *word != "--" {
            words.next_if(|value| value.starts_with('<'));
            continue;
        }
        kept.push(word.to_string());
    }
    kept
}

// Each subcommand's SYNOPSIS shows its arguments as its `--help` usage does: `...` after
// one that takes several values, and the `--` that `fdagent exec` needs before CMD.
#[test]
fn every_synopsis_shows_its_arguments_as_the_usage_does() {
    let tree = Tree::new();
    let pages = all_pages(&tree);
    for (bin, page) in [("fdbroker", "fdbroker.8"), ("fdagent", "fdagent.1")] {
        let source = plain(&pages.iter().find(|(n, _)| n == page).expect("a page").1);
        let (commands, _) = documented_by_help(&tree, &tree.bin(bin));
        for command in commands {
            let help = stdout_of(&tree, &tree.bin(bin), &[&command, "--help"]);
            let usage = help
                .lines()
                .find_map(|l| l.strip_prefix("Usage: "))
                .unwrap_or_else(|| panic!("no usage in `{bin} {command} --help`"));
            let heading = format!(".SS \"{bin} {command}\"\n");
            let synopsis = source
                .split_once(&heading)
                .and_then(|(_, rest)| rest.lines().next())
                .unwrap_or_else(|| panic!("{page}: no {heading:?}"));
            let usage_words: Vec<&str> = usage.split_whitespace().skip(2).collect();
            let synopsis_words: Vec<&str> = synopsis.split_whitespace().skip(2).collect();
            assert_eq!(
                arguments_part(&synopsis_words),
                arguments_part(&usage_words),
                "{page}: the synopsis {synopsis:?} does not show the arguments as `{bin} {command} --help` does ({usage:?})"
            );
            if command == "exec" {
                assert!(
                    synopsis_words.contains(&"--"),
                    "{page}: the synopsis {synopsis:?} lacks the `--` before CMD"
                );
            }
        }
    }
}
