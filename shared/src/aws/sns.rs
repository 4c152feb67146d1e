//! SNS message rules every function's notifications follow.

/// SNS refuses a subject of 100 characters or more.
pub const MAX_SUBJECT_CHARS: usize = 99;

/// `text` as SNS accepts a subject: printable ASCII on one line (line breaks and tabs become spaces,
/// anything else outside ASCII `?`), trimmed, and under 100 characters (cut with `...`).
pub fn subject(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' => ' ',
            ' '..='~' => c,
            _ => '?',
        })
        .collect();
    let clean = clean.trim();
    if clean.len() <= MAX_SUBJECT_CHARS {
        clean.to_owned()
    } else {
        // Only ASCII remains, so any byte index is a character boundary.
        format!("{}...", &clean[..MAX_SUBJECT_CHARS - 3])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_printable_ascii_on_one_line_and_short() {
        assert_eq!(subject("  ok  "), "ok");
        assert_eq!(subject("a\nb\tc"), "a b c");
        assert_eq!(subject("名前 web"), "?? web");
        let long = subject(&"x".repeat(150));
        assert_eq!(long.len(), MAX_SUBJECT_CHARS);
        assert!(long.ends_with("..."));
        assert_eq!(subject(&"y".repeat(99)).len(), 99, "99 characters fit");
    }
}
