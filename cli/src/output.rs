//! How results are shown: tables for people (colour only on a terminal), JSON for scripts, and a
//! progress line on reads that take more than a moment.

use std::fmt::Write as _;
use std::future::Future;
use std::io::{IsTerminal, Write as _};
use std::time::Duration;

use serde_json::Value;

/// What a command produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// The human-readable text.
    pub text: String,
    /// The same facts as JSON.
    pub json: Value,
    /// Something needs attention (exit status 1).
    pub findings: bool,
    /// The command could not do all it was asked (checks skipped for missing settings): exit status
    /// 2 unless there are findings.
    pub incomplete: bool,
}

/// Text styles, applied only when stdout is a terminal and `NO_COLOR` is unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    colour: bool,
}

impl Style {
    /// Colour when stdout is a terminal and `NO_COLOR` is not set.
    pub fn detect() -> Self {
        Self {
            colour: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }

    /// No colour (files, pipes, tests).
    pub fn plain() -> Self {
        Self { colour: false }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\u{1b}[{code}m{text}\u{1b}[0m")
        } else {
            text.to_owned()
        }
    }

    /// Good news.
    pub fn good(self, text: &str) -> String {
        self.paint("32", text)
    }

    /// Bad news.
    pub fn bad(self, text: &str) -> String {
        self.paint("31;1", text)
    }

    /// Worth a look.
    pub fn warn(self, text: &str) -> String {
        self.paint("33", text)
    }

    /// Headings.
    pub fn heading(self, text: &str) -> String {
        self.paint("1", text)
    }
}

/// A plain-text table: columns padded to their widest cell.
#[derive(Debug, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    pub fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (as many cells as columns).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Whether no row was added.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table, indented by `indent` spaces.
    pub fn render(&self, indent: usize) -> String {
        let width = |i: usize| {
            std::iter::once(&self.header)
                .chain(&self.rows)
                .filter_map(|row| row.get(i))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..self.header.len()).map(width).collect();
        let mut text = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = " ".repeat(indent);
            for (i, cell) in row.iter().enumerate() {
                if i + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    let _ = write!(line, "{cell:<w$}  ", w = widths[i]);
                }
            }
            text.push_str(line.trim_end());
            text.push('\n');
        }
        text
    }
}

/// Runs `work`; if it takes more than a moment and stderr is a terminal, says `what` is being read
/// until it is done.
pub async fn with_progress<T>(what: &str, work: impl Future<Output = T>) -> T {
    if !std::io::stderr().is_terminal() {
        return work.await;
    }
    let what = what.to_owned();
    let indicator = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let frames = ['|', '/', '-', '\\'];
        let mut frame = 0;
        loop {
            eprint!("\r{} reading {what} ...", frames[frame % frames.len()]);
            let _ = std::io::stderr().flush();
            frame += 1;
            tokio::time::sleep(Duration::from_millis(120)).await;
        }
    });
    let result = work.await;
    indicator.abort();
    eprint!("\r\u{1b}[2K");
    result
}

/// A duration for people: `45 s`, `12 min`, `3 h 5 min`, `2 d 4 h`.
pub fn age(duration: chrono::Duration) -> String {
    let seconds = duration.num_seconds().max(0);
    match seconds {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 86_400 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        s => format!("{} d {} h", s / 86_400, (s % 86_400) / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_pad_columns_and_ages_read_naturally() {
        let mut table = Table::new(&["group", "compliant", "trend"]);
        table.row(vec!["web".into(), "90.0 %".into(), "80 → 90".into()]);
        table.row(vec!["database".into(), "100.0 %".into(), "".into()]);
        assert_eq!(
            table.render(2),
            "  group     compliant  trend\n  web       90.0 %     80 → 90\n  database  100.0 %\n"
        );
        assert_eq!(age(chrono::Duration::seconds(42)), "42 s");
        assert_eq!(age(chrono::Duration::minutes(75)), "1 h 15 min");
        assert_eq!(age(chrono::Duration::hours(50)), "2 d 2 h");
        assert_eq!(Style::plain().bad("CLOSED"), "CLOSED");
    }
}
