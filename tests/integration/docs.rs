//! The documentation's shape: README.md stays what a new user reads first (short, linking
//! every page under `docs/`, and still holding the test command `.ci/run` runs), every
//! relative link in README.md and `docs/*.md` reaches a file and heading that exist, its
//! minimal policy loads and decides as it says, and
//! every page and heading that code, tests, examples and packaging cite (a `docs/` page
//! named with its `.md`, then a comma and the heading in double quotes, and likewise the
//! README) exists. None of this needs root.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::harness::{Tree, write_policy};

/// The most lines README.md may have: what it is, Try it, Install, a minimal policy,
/// where to go next and the layout fit in it; anything longer belongs in `docs/`.
const README_MAX_LINES: usize = 250;

/// The README's test command, which `.ci/run` must run exactly as the README shows it.
const TEST_COMMAND: &str = "cargo build --workspace --bins --examples && cargo test --workspace";

/// The repository's root (the root package's directory).
fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The pages under `docs/`, sorted.
fn docs_pages() -> Vec<PathBuf> {
    let mut pages: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .expect("read docs/")
        .map(|entry| entry.expect("a docs/ entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    pages
}

/// The lines of a Markdown text outside fenced code blocks, with their 1-based numbers.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut fenced = false;
    let mut lines = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            lines.push((i + 1, line));
        }
    }
    lines
}

/// `line` without its inline code spans (`` `...` ``), where brackets are not links.
fn without_code_spans(line: &str) -> String {
    line.split('`').step_by(2).collect::<Vec<_>>().join(" ")
}

/// The targets of the inline links (`[text](target)`) of a Markdown text, with their
/// line numbers.
fn link_targets(text: &str) -> Vec<(usize, String)> {
    let mut targets = Vec::new();
    for (number, line) in prose_lines(text) {
        let line = without_code_spans(line);
        let mut rest = line.as_str();
        while let Some(start) = rest.find("](") {
            rest = &rest[start + 2..];
            let end = rest.find(')').unwrap_or(rest.len());
            targets.push((number, rest[..end].to_owned()));
            rest = &rest[end..];
        }
    }
    targets
}

/// The anchors GitHub gives a Markdown text's headings: the heading's text lowercased,
/// with spaces as `-` and every character but letters, digits, `-` and `_` dropped; a
/// repeated anchor gets `-1`, `-2`, ...
fn anchors(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (_, line) in prose_lines(text) {
        let Some(heading) = line
            .strip_prefix('#')
            .map(|l| l.trim_start_matches('#'))
            .and_then(|l| l.strip_prefix(' '))
        else {
            continue;
        };
        let slug: String = heading
            .trim()
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                c if c.is_alphanumeric() || c == '-' || c == '_' => c.to_lowercase().next(),
                _ => None,
            })
            .collect();
        let mut unique = slug.clone();
        let mut n = 0;
        while found.contains(&unique) {
            n += 1;
            unique = format!("{slug}-{n}");
        }
        found.insert(unique);
    }
    found
}

/// The headings' texts of a Markdown text, as written after the `#`s.
fn headings(text: &str) -> Vec<String> {
    prose_lines(text)
        .into_iter()
        .filter_map(|(_, line)| {
            line.strip_prefix('#')
                .map(|l| l.trim_start_matches('#').trim().to_owned())
        })
        .collect()
}

#[test]
fn the_readme_stays_short_and_links_every_docs_page() {
    let readme = read(&repo().join("README.md"));
    let lines = readme.lines().count();
    assert!(
        lines <= README_MAX_LINES,
        "README.md has {lines} lines, over {README_MAX_LINES}: move reference material to a page under docs/"
    );
    let targets: BTreeSet<String> = link_targets(&readme)
        .into_iter()
        .map(|(_, t)| t.split('#').next().unwrap_or_default().to_owned())
        .collect();
    let pages = docs_pages();
    assert!(!pages.is_empty(), "no pages under docs/");
    for page in pages {
        let name = format!(
            "docs/{}",
            page.file_name().expect("a name").to_string_lossy()
        );
        assert!(
            targets.contains(&name),
            "README.md does not link {name}: {targets:?}"
        );
    }
}

#[test]
fn the_readme_shows_the_test_command_ci_runs() {
    let readme = read(&repo().join("README.md"));
    assert!(
        readme.lines().any(|l| l.trim() == TEST_COMMAND),
        "README.md has no line `{TEST_COMMAND}`"
    );
    let ci = read(&repo().join(".ci/run"));
    assert!(
        ci.lines().any(|l| l.trim() == TEST_COMMAND),
        ".ci/run does not run `{TEST_COMMAND}` as the README shows it"
    );
}

#[test]
fn every_relative_link_in_the_docs_reaches_a_file_and_heading() {
    let mut files = vec![repo().join("README.md")];
    files.extend(docs_pages());
    let mut broken = Vec::new();
    for file in &files {
        let text = read(file);
        for (line, target) in link_targets(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (path, anchor) = match target.split_once('#') {
                Some((path, anchor)) => (path, Some(anchor)),
                None => (target.as_str(), None),
            };
            let dest = if path.is_empty() {
                file.clone()
            } else {
                file.parent().expect("a directory").join(path)
            };
            let at = format!("{}:{line}: {target}", file.display());
            if !dest.exists() {
                broken.push(format!("{at}: no such file"));
            } else if let Some(anchor) = anchor {
                if dest.extension().is_none_or(|e| e != "md") {
                    broken.push(format!("{at}: an anchor into a file that is not Markdown"));
                } else if !anchors(&read(&dest)).contains(anchor) {
                    broken.push(format!("{at}: no heading with that anchor"));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// The files whose text may cite the documentation: sources, tests, examples, packaging,
/// CI, manifests (not `target/`, `.git/` or the docs themselves).
fn citing_files() -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![repo().to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read a directory") {
            let path = entry.expect("an entry").path();
            let name = path.file_name().expect("a name").to_string_lossy();
            if path.is_dir() {
                if !matches!(name.as_ref(), "target" | ".git" | "docs") {
                    dirs.push(path);
                }
            } else if name != "README.md" {
                found.push(path);
            }
        }
    }
    found
}

/// Each `docs/PAGE.md` or `README` in `text`, with the heading quoted right after it
/// (`docs/commands.md, "Limits"`), if any.
fn citations(text: &str) -> Vec<(String, Option<String>)> {
    let mut found = Vec::new();
    for (i, _) in text
        .match_indices("docs/")
        .chain(text.match_indices("README"))
    {
        let rest = &text[i..];
        let name_len = if rest.starts_with("README.md") {
            "README.md".len()
        } else if rest.starts_with("README") {
            "README".len()
        } else {
            let stem = rest["docs/".len()..]
                .find(|c: char| !(c.is_ascii_lowercase() || c == '-'))
                .unwrap_or(0);
            if !rest["docs/".len() + stem..].starts_with(".md") {
                continue;
            }
            "docs/".len() + stem + ".md".len()
        };
        let name = rest[..name_len].to_owned();
        // The heading may follow on the next line of a comment.
        let heading = rest[name_len..]
            .strip_prefix(',')
            .map(|h| {
                let h = h.trim_start();
                ["//!", "///", "//", "#"]
                    .iter()
                    .find_map(|marker| h.strip_prefix(marker))
                    .unwrap_or(h)
                    .trim_start()
            })
            .and_then(|h| h.strip_prefix('"'))
            .and_then(|h| h.split_once('"'))
            .map(|(h, _)| h.to_owned());
        found.push((name, heading));
    }
    found
}

#[test]
fn the_code_cites_pages_and_headings_that_exist() {
    let mut broken = Vec::new();
    for file in citing_files() {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for (page, heading) in citations(&text) {
            let path = repo().join(if page == "README" {
                "README.md"
            } else {
                page.as_str()
            });
            let at = format!("{}: {page}", file.display());
            if !path.exists() {
                broken.push(format!("{at}: no such page"));
            } else if let Some(heading) = heading
                && !headings(&read(&path)).contains(&heading)
            {
                broken.push(format!("{at}: no heading {heading:?}"));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "citations of the docs that lead nowhere:\n{}",
        broken.join("\n")
    );
}

/// The first fenced block of `lang` in a Markdown text.
fn first_block(text: &str, lang: &str) -> String {
    text.split_once(&format!("```{lang}\n"))
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(block, _)| block.to_owned())
        .unwrap_or_else(|| panic!("no ```{lang} block"))
}

// The README's minimal policy (which names the user `clamav`, whom installing ClamAV, as
// "Try it" does, creates) loads, allows its allow rule's tree and denies the quarantine
// by its deny rule, as the README says.
#[test]
fn the_readme_policy_loads_and_decides_as_it_says() {
    let tree = Tree::new();
    let policy = tree.path("policy.toml");
    write_policy(
        &policy,
        &first_block(&read(&repo().join("README.md")), "toml"),
    );
    let fdbroker = tree.bin("fdbroker");
    tree.cmd(&fdbroker)
        .arg("check")
        .arg(&policy)
        .run()
        .code_is(0)
        .stdout_is(format!("{}: ok (2 rules)\n", policy.display()));
    let explain = |path: &str| {
        let out = tree
            .cmd(&fdbroker)
            .args(["explain", "--policy", &tree.p("policy.toml")])
            .args(["--uid", "clamav", "--access", "read", path])
            .run();
        (
            out.code(),
            out.stdout_str()
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned(),
        )
    };
    assert_eq!(
        explain("/srv/uploads/a.txt"),
        (Some(0), "allow (rule \"scanner-reads-uploads\")".to_owned())
    );
    assert_eq!(
        explain("/srv/uploads/quarantine/a.pdf"),
        (
            Some(1),
            "deny (rule \"quarantine-is-off-limits\")".to_owned()
        )
    );
}
