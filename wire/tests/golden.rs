//! Golden vectors: the exact bytes of every request, response, outcome, file kind, error
//! kind, reload result and access bit, kept in `tests/golden/vectors.txt`.
//!
//! Tags follow the order of the variants in the source, so reordering an enum, or a field,
//! changes the protocol without touching a line of the codec. This test encodes each value
//! of `golden_values` and compares with the file, and decodes each line of the file (with
//! the checks a receiver makes) and compares with the value, so any change to the bytes
//! fails and names the vector. A second test checks that every variant of every enum has a
//! vector, so a new one cannot go unpinned.
//!
//! The file is normative together with the tables of the crate docs, and plain text so
//! that clients in other languages can test against it. After a deliberate change to the
//! protocol, `FDBROKER_BLESS=1 cargo test -p fdbroker-wire --test golden` rewrites it;
//! CI never does.

mod golden_values;

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::fs;
use std::path::PathBuf;

use fdbroker_wire::Access;
use golden_values::{Longest, Value, Vector, all_vectors};

/// The head of the file: what it is and how to read it.
const HEADER: &str = "\
# fdbroker wire protocol: golden test vectors.
#
# Normative, together with the tables of the wire crate's docs (src/lib.rs). Written by
# tests/golden.rs (FDBROKER_BLESS=1), never by hand; that test fails on any difference.
#
# One vector per line, three fields separated by one space:
#   NAME   family.label. The families request and response are whole messages (the
#          version byte, then the postcard body); access, file_kind, error_kind,
#          reload_result and outcome are the postcard encoding of that one value alone,
#          as it appears inside a message.
#   HEX    the exact bytes, lower-case hex, no separators.
#   ABOUT  the rest of the line: the value, for people.
# Lines that are empty or start with '#' are comments.
";

fn golden_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/vectors.txt")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Result<Vec<u8>, String> {
    if !text.len().is_multiple_of(2)
        || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err("not an even number of lower-case hex digits".into());
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).map_err(|e| e.to_string()))
        .collect()
}

/// The file as the vectors write it.
fn render(vectors: &[Vector<'_>]) -> String {
    let mut out = String::from(HEADER);
    let mut family = "";
    let mut names = BTreeSet::new();
    for v in vectors {
        assert!(
            !v.name.contains(char::is_whitespace) && !v.about.contains('\n'),
            "{}: a name has no spaces, an about has no newline",
            v.name
        );
        assert!(
            names.insert(&v.name),
            "{}: two vectors of that name",
            v.name
        );
        if v.value.family() != family {
            family = v.value.family();
            out.push('\n');
        }
        out.push_str(&format!(
            "{} {} {}\n",
            v.name,
            hex(&v.value.encode()),
            v.about
        ));
    }
    out
}

/// One line of the file.
struct Entry<'t> {
    line: usize,
    name: &'t str,
    hex: &'t str,
    about: &'t str,
}

fn parse(text: &str) -> Result<Vec<Entry<'_>>, String> {
    let mut entries = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.splitn(3, ' ');
        match (fields.next(), fields.next(), fields.next()) {
            (Some(name), Some(hex), Some(about)) => entries.push(Entry {
                line: i + 1,
                name,
                hex,
                about,
            }),
            _ => return Err(format!("line {}: not NAME HEX ABOUT", i + 1)),
        }
    }
    Ok(entries)
}

/// Where two encodings part, briefly: long messages must not flood the report.
fn difference(ours: &[u8], file: &[u8]) -> String {
    let at = ours.iter().zip(file).take_while(|(a, b)| a == b).count();
    let around = |bytes: &[u8]| hex(&bytes[at..bytes.len().min(at + 16)]);
    format!(
        "this code encodes {} bytes, the file has {}; from byte {at}: ours {}.., file {}..",
        ours.len(),
        file.len(),
        around(ours),
        around(file)
    )
}

/// A value's `Debug`, cut short.
fn brief(value: &impl Debug) -> String {
    let text = format!("{value:?}");
    match text.char_indices().nth(200) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text,
    }
}

/// What is wrong with one vector's line in the file, if anything.
fn check(v: &Vector<'_>, entry: &Entry<'_>) -> Vec<String> {
    let mut problems = Vec::new();
    let ours = v.value.encode();
    let file = match unhex(entry.hex) {
        Ok(bytes) => bytes,
        Err(e) => return vec![format!("line {}: {e}", entry.line)],
    };
    if ours != file {
        problems.push(difference(&ours, &file));
    }
    match v.value.decode(&file) {
        Ok(decoded) if decoded == v.value => {}
        Ok(decoded) => problems.push(format!("the file's bytes decode to {}", brief(&decoded))),
        Err(e) => problems.push(format!("the file's bytes do not decode: {e}")),
    }
    if problems.is_empty() && entry.about != v.about {
        problems.push(format!(
            "bytes agree, the description does not: file {:?}, ours {:?}",
            entry.about, v.about
        ));
    }
    problems
}

/// Protects against a change to the protocol's bytes that nobody meant: a reordered
/// variant or field, an integer encoded otherwise, a changed limit.
#[test]
fn every_vector_encodes_and_decodes_to_the_golden_bytes() {
    let longest = Longest::new();
    let vectors = all_vectors(&longest);
    let rendered = render(&vectors);
    let path = golden_file();
    if std::env::var_os("FDBROKER_BLESS").is_some_and(|v| v == "1") {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, &rendered).unwrap();
        eprintln!("FDBROKER_BLESS=1: wrote {}", path.display());
        return;
    }
    let text = fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (FDBROKER_BLESS=1 writes it)", path.display()));
    let entries = parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut failures = Vec::new();
    for v in &vectors {
        match entries.iter().find(|e| e.name == v.name) {
            None => failures.push(format!("{}: not in the file", v.name)),
            Some(entry) => failures.extend(
                check(v, entry)
                    .into_iter()
                    .map(|p| format!("{}: {p}", v.name)),
            ),
        }
    }
    for entry in &entries {
        if !vectors.iter().any(|v| v.name == entry.name) {
            failures.push(format!(
                "{}: in the file, but not a vector here",
                entry.name
            ));
        }
    }
    if failures.is_empty() && text != rendered {
        failures.push(
            "the vectors agree, but the file is not laid out as FDBROKER_BLESS=1 writes it".into(),
        );
    }
    assert!(
        failures.is_empty(),
        "{} does not match the wire protocol:\n  {}\n\
         If the protocol is meant to change, rewrite the file with \
         FDBROKER_BLESS=1 cargo test -p fdbroker-wire --test golden and review its diff.",
        path.display(),
        failures.join("\n  ")
    );
}

/// Protects against a variant with no vector, so that its tag would be pinned by nothing:
/// for each enum, the tags of the vectors run from 0 with no gap, and the next tag is no
/// variant at all. Every access bit has a vector too.
#[test]
fn every_variant_has_a_vector() {
    let longest = Longest::new();
    let vectors = all_vectors(&longest);
    let mut families: Vec<&str> = vectors.iter().map(|v| v.value.family()).collect();
    families.dedup();
    for family in families {
        let members: Vec<&Value<'_>> = vectors
            .iter()
            .map(|v| &v.value)
            .filter(|value| value.family() == family)
            .collect();
        let Some(tags) = members
            .iter()
            .map(|value| value.tag())
            .collect::<Option<BTreeSet<u8>>>()
        else {
            continue;
        };
        let next = u8::try_from(tags.len()).unwrap();
        assert!(
            tags.iter().copied().eq(0..next),
            "{family}: the vectors' tags {tags:?} have a gap"
        );
        assert!(
            members[0].is_unknown_tag(next),
            "{family}: tag {next} is a variant with no vector"
        );
    }
    for bit in Access::all().iter() {
        assert!(
            vectors
                .iter()
                .any(|v| v.value == Value::Access(bit) && v.name == format!("access.{bit}")),
            "access bit {bit} has no vector"
        );
    }
}
