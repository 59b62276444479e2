//! The placeholder scanner: splits a template text into literal text and `{{name}}`
//! placeholders.
//!
//! Hand-written rather than a regular expression: the grammar is one rule (`{{` opens, `}}`
//! closes, the name between matches `[a-z][a-z0-9_]*`), and a scanner that names the exact
//! malformed piece gives a better error than a pattern that merely fails to match. A `{{`
//! always opens a placeholder, so `{{ Name }}` or an unclosed `{{` is refused rather than sent
//! to a patient as literal braces; a single `{` and a `}}` with no opening `{{` are literal text.

use std::fmt;

/// The longest piece of a malformed placeholder quoted back in an error.
const QUOTE_CHARS: usize = 40;

/// One piece of a scanned text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment<'a> {
    /// Literal text, copied as it is.
    Text(&'a str),
    /// A placeholder's name (without the braces).
    Placeholder(&'a str),
}

/// A `{{` that does not open a well-formed placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MalformedPlaceholder {
    /// `{{` with a name that does not match `[a-z][a-z0-9_]*`; holds the piece as written.
    BadName(String),
    /// `{{` without a closing `}}`; holds the text from the `{{` on.
    Unclosed(String),
}

impl fmt::Display for MalformedPlaceholder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MalformedPlaceholder::BadName(piece) => write!(
                f,
                "malformed placeholder `{piece}`: a placeholder is `{{{{name}}}}` with name matching [a-z][a-z0-9_]*"
            ),
            MalformedPlaceholder::Unclosed(piece) => {
                write!(f, "unclosed placeholder `{piece}`: `{{{{` needs a closing `}}}}`")
            }
        }
    }
}

/// Whether `name` matches `[a-z][a-z0-9_]*`.
pub fn is_placeholder_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// At most [`QUOTE_CHARS`] characters of `text`, with `…` when cut.
fn quote(text: &str) -> String {
    let mut quoted: String = text.chars().take(QUOTE_CHARS).collect();
    if quoted.len() < text.len() {
        quoted.push('…');
    }
    quoted
}

/// Splits `text` into literal pieces and placeholders, in order; empty literal pieces are left
/// out. Fails on the first malformed placeholder.
pub fn scan(text: &str) -> Result<Vec<Segment<'_>>, MalformedPlaceholder> {
    let mut segments = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            segments.push(Segment::Text(&rest[..open]));
        }
        let after_open = &rest[open + 2..];
        let Some(close) = after_open.find("}}") else {
            return Err(MalformedPlaceholder::Unclosed(quote(&rest[open..])));
        };
        let name = &after_open[..close];
        if !is_placeholder_name(name) {
            return Err(MalformedPlaceholder::BadName(quote(
                &rest[open..open + close + 4],
            )));
        }
        segments.push(Segment::Placeholder(name));
        rest = &after_open[close + 2..];
    }
    if !rest.is_empty() {
        segments.push(Segment::Text(rest));
    }
    Ok(segments)
}

/// The placeholder names of `text` in order of first use, each once, appended to `names`.
pub fn collect_names(text: &str, names: &mut Vec<String>) -> Result<(), MalformedPlaceholder> {
    for segment in scan(text)? {
        if let Segment::Placeholder(name) = segment {
            if !names.iter().any(|known| known == name) {
                names.push(name.to_owned());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_text_and_placeholders() {
        assert_eq!(
            scan("Hi {{patient_name}}, see you {{day}}.").unwrap(),
            vec![
                Segment::Text("Hi "),
                Segment::Placeholder("patient_name"),
                Segment::Text(", see you "),
                Segment::Placeholder("day"),
                Segment::Text("."),
            ]
        );
        assert_eq!(scan("").unwrap(), vec![]);
        assert_eq!(scan("{{a}}{{b2}}").unwrap().len(), 2);
    }

    #[test]
    fn single_braces_and_stray_closers_are_text() {
        assert_eq!(scan("{a} }} {").unwrap(), vec![Segment::Text("{a} }} {")]);
        assert_eq!(
            scan("{{a}}}").unwrap(),
            vec![Segment::Placeholder("a"), Segment::Text("}")]
        );
    }

    #[test]
    fn malformed_placeholders_are_named() {
        for (text, piece) in [
            ("Hi {{ Name }}!", "{{ Name }}"),
            ("{{}}", "{{}}"),
            ("{{Name}}", "{{Name}}"),
            ("{{1st}}", "{{1st}}"),
            ("{{a-b}}", "{{a-b}}"),
            ("{{{a}}}", "{{{a}}"),
        ] {
            assert_eq!(
                scan(text),
                Err(MalformedPlaceholder::BadName(piece.into())),
                "{text}"
            );
        }
        assert_eq!(
            scan("Hi {{name"),
            Err(MalformedPlaceholder::Unclosed("{{name".into()))
        );
        let long = format!("{{{{{}", "x".repeat(100));
        let error = scan(&long).unwrap_err().to_string();
        assert!(error.contains('…') && error.len() < 200, "{error}");
    }

    #[test]
    fn names_are_listed_once_in_order_of_first_use() {
        let mut names = Vec::new();
        collect_names("{{b}} {{a}} {{b}}", &mut names).unwrap();
        collect_names("{{c}} {{a}}", &mut names).unwrap();
        assert_eq!(names, ["b", "a", "c"]);
    }

    #[test]
    fn name_rule() {
        for ok in ["a", "patient_name", "a1_", "z9"] {
            assert!(is_placeholder_name(ok), "{ok}");
        }
        for bad in ["", "A", "_a", "1a", "a-b", "a b", "é"] {
            assert!(!is_placeholder_name(bad), "{bad}");
        }
    }
}
