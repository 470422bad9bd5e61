//! The one table the bench prints: a row per figure, with its baseline ratio, its
//! target and PASS/FAIL. Rows are also echoed to stderr as they are measured, so a long
//! run shows progress.

use std::fmt::Write;

/// One printed row. Every field is already formatted.
#[derive(Debug, Clone, Default)]
pub struct Row {
    pub section: &'static str,
    pub name: String,
    pub placement: String,
    pub median: String,
    pub p99: String,
    /// The ratio to the baseline(s) measured in the same run, e.g. `1.18× floor`.
    pub vs: String,
    pub target: String,
    /// `None` when the row has no target (a baseline).
    pub pass: Option<bool>,
    /// Where the target is out of physical reach (a note under the table shows why, from
    /// this run's figures): the bar set in its place, and whether it is met. The target
    /// itself is still judged and counted.
    pub reset: Option<(String, bool)>,
}

impl Row {
    pub fn new(section: &'static str, name: impl Into<String>) -> Row {
        Row {
            section,
            name: name.into(),
            ..Row::default()
        }
    }

    pub fn placement(mut self, p: impl ToString) -> Row {
        self.placement = p.to_string();
        self
    }

    pub fn median(mut self, m: impl Into<String>) -> Row {
        self.median = m.into();
        self
    }

    pub fn p99(mut self, p: impl Into<String>) -> Row {
        self.p99 = p.into();
        self
    }

    pub fn vs(mut self, v: impl Into<String>) -> Row {
        self.vs = v.into();
        self
    }

    pub fn target(mut self, t: impl Into<String>, pass: bool) -> Row {
        self.target = t.into();
        self.pass = Some(pass);
        self
    }

    /// Sets the bar that replaces this row's target where that is out of reach.
    pub fn reset(mut self, bar: impl Into<String>, pass: bool) -> Row {
        self.reset = Some((bar.into(), pass));
        self
    }
}

const HEADERS: [&str; 8] = [
    "section",
    "row",
    "placement",
    "median",
    "p99",
    "vs baseline (same run)",
    "target",
    "result",
];

/// The rows so far, and notes printed under the table.
#[derive(Debug, Default)]
pub struct Table {
    rows: Vec<Row>,
    notes: Vec<String>,
}

impl Table {
    pub fn push(&mut self, row: Row) {
        eprintln!("  {}", cells(&row).join(" | "));
        self.rows.push(row);
    }

    pub fn note(&mut self, note: impl Into<String>) {
        let note = note.into();
        eprintln!("  note: {note}");
        self.notes.push(note);
    }

    pub fn failures(&self) -> usize {
        self.rows.iter().filter(|r| r.pass == Some(false)).count()
    }

    /// The table as aligned Markdown, with a PASS/FAIL count and the notes.
    pub fn render(&self) -> String {
        let rows: Vec<[String; 8]> = self.rows.iter().map(cells).collect();
        let mut widths = HEADERS.map(|h| h.chars().count());
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let line = |out: &mut String, cells: &[String]| {
            out.push('|');
            for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
                let pad = w - cell.chars().count();
                // Figures are right-aligned, words left-aligned.
                if (3..=5).contains(&i) {
                    write!(out, " {}{cell} |", " ".repeat(pad)).expect("write to String");
                } else {
                    write!(out, " {cell}{} |", " ".repeat(pad)).expect("write to String");
                }
            }
            out.push('\n');
        };
        line(&mut out, &HEADERS.map(String::from));
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        line(&mut out, &rule);
        for row in &rows {
            line(&mut out, row);
        }
        let judged = self.rows.iter().filter(|r| r.pass.is_some()).count();
        write!(
            out,
            "\n{} of {judged} targets met, {} failed.",
            judged - self.failures(),
            self.failures()
        )
        .expect("write to String");
        let resets: Vec<bool> = self
            .rows
            .iter()
            .filter_map(|r| r.reset.as_ref())
            .map(|r| r.1)
            .collect();
        if !resets.is_empty() {
            write!(
                out,
                " {} of {} reset bars met (bars set where a target is out of physical reach; \
                 why is in the notes).",
                resets.iter().filter(|met| **met).count(),
                resets.len()
            )
            .expect("write to String");
        }
        out.push('\n');
        for note in &self.notes {
            writeln!(out, "- {note}").expect("write to String");
        }
        out
    }
}

fn cells(row: &Row) -> [String; 8] {
    let verdict = |pass| if pass { "PASS" } else { "FAIL" };
    let mut result = match row.pass {
        Some(pass) => verdict(pass).to_owned(),
        None if row.target.is_empty() => String::new(),
        None => "n/a".to_owned(),
    };
    let mut target = row.target.clone();
    if let Some((bar, pass)) = &row.reset {
        target = format!("{target}; reset: {bar}");
        result = format!("{result}; reset {}", verdict(*pass));
    }
    [
        row.section.to_owned(),
        row.name.clone(),
        row.placement.clone(),
        row.median.clone(),
        row.p99.clone(),
        row.vs.clone(),
        target,
        result,
    ]
}
