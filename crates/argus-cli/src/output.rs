//! The one way the `argus` binary writes to the terminal: results on stdout,
//! notices, progress and errors on stderr (Foundry's `Shell`, smaller).
//!
//! Why one module: much of what Argus shows did not come from Argus. Alert
//! titles and fields are made from events on the chain, labels from the names
//! of imported files and their `contractName`, audit entries from whoever
//! recorded them. A title holding `ESC [2J` clears the operator's screen, a
//! `CR` or `LF` in it forges a line of its own ("CRITICAL … ALL CLEAR"), a
//! right-to-left override (U+202E) makes an address or a rule id read
//! backwards. Escaping at each place such a string is printed was tried, and
//! one of two printers forgot. So nothing here trusts the text it is given:
//!
//! - [`escape`] / [`escaped`] show a string from outside on one line, every
//!   C0 and C1 control character (LF, CR, TAB and ESC included), DEL, the
//!   Unicode bidi controls (U+061C, U+200E, U+200F, U+202A–U+202E,
//!   U+2066–U+2069) and the line and paragraph separators (U+2028, U+2029)
//!   written as Rust escapes (`\n`, `\r`, `\u{1b}`, `\u{202e}`). Use them on
//!   every field whose value came from a chain, a file or a user, so a line
//!   break inside it cannot make a line of its own.
//! - Every writer (`sh_println!` and its siblings, [`json`],
//!   [`progress`]) escapes all of those characters again in the whole text,
//!   except the newlines that lay the output out. A caller that forgets
//!   [`escaped`] can at worst break a line: it cannot move the cursor, clear
//!   the screen or reorder what is shown.
//! - JSON documents stay valid JSON that parses to the same strings: serde
//!   already writes C0 controls as `\u00XX`; the writer also writes DEL, C1
//!   controls, bidi controls and U+2028/U+2029 as `\uXXXX` escapes (they can
//!   only occur inside string literals), so `jq` sees the original value and
//!   a terminal never sees the raw character.
//! - Log lines (`tracing`) reach stderr through [`LogWriter`]: tracing-
//!   subscriber escapes ESC and the C1 controls itself (and colours the line
//!   with its own ESC sequences); the writer escapes what it leaves raw (CR,
//!   the other C0 controls, a newline inside an event, bidi controls).
//!
//! Printable text, including every non-ASCII letter, passes unchanged; a
//! backslash is not doubled, so ordinary output is byte for byte what it was.
//!
//! `clippy::print_stdout`/`print_stderr` are denied for the whole crate and
//! `std::io::stdout`/`stderr` are disallowed methods (`clippy.toml`): this is
//! the only module allowed to reach the terminal.

#![allow(clippy::print_stdout, clippy::print_stderr, clippy::disallowed_methods)]

use std::borrow::Cow;
use std::fmt;
use std::io::{self, ErrorKind, IsTerminal as _, Write as _};

use anyhow::Context as _;

/// Whether `c` must never reach a terminal raw.
pub(crate) fn is_unsafe(c: char) -> bool {
    c.is_control() // C0 (U+0000–U+001F), DEL (U+007F), C1 (U+0080–U+009F)
        || matches!(
            c,
            '\u{061C}'                      // ARABIC LETTER MARK
            | '\u{200E}' | '\u{200F}'       // LRM, RLM
            | '\u{202A}'..='\u{202E}'       // LRE, RLE, PDF, LRO, RLO
            | '\u{2066}'..='\u{2069}'       // LRI, RLI, FSI, PDI
            | '\u{2028}' | '\u{2029}' // LINE / PARAGRAPH SEPARATOR
        )
}

/// `text` as one line safe to show: every unsafe character (see [`is_unsafe`]),
/// newlines included, written as its Rust escape. Borrowed when nothing
/// needed escaping.
pub(crate) fn escape(text: &str) -> Cow<'_, str> {
    escape_where(text, is_unsafe)
}

/// `text` with every unsafe character escaped except `\n`: for whole
/// documents whose line breaks are the program's own layout.
fn escape_but_newlines(text: &str) -> Cow<'_, str> {
    escape_where(text, |c| c != '\n' && is_unsafe(c))
}

fn escape_where(text: &str, unsafe_char: impl Fn(char) -> bool) -> Cow<'_, str> {
    let Some(first) = text.find(&unsafe_char) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len() + 16);
    out.push_str(&text[..first]);
    for c in text[first..].chars() {
        if unsafe_char(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A value from outside, escaped when it is formatted (see [`escape`]).
/// Width, fill and alignment apply to the escaped text, so columns line up:
/// `format!("{:<20}", escaped(&label))`.
pub(crate) fn escaped<T: fmt::Display>(value: T) -> Escaped<T> {
    Escaped(value)
}

/// See [`escaped`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Escaped<T>(T);

impl<T: fmt::Display> fmt::Display for Escaped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.to_string();
        f.pad(&escape(&text))
    }
}

/// A JSON text (serde_json's output) with DEL, the C1 and bidi controls and
/// U+2028/U+2029 as `\uXXXX` escapes: still valid JSON for the same value.
/// serde_json already escapes the C0 controls inside strings, and outside
/// strings it writes only ASCII, so every such character is inside a string.
fn json_escape(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| c != '\n' && is_unsafe(c);
    if !text.contains(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if unsafe_char(c) {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

// ------------------------------------------------------------------ writers

/// Writes `text` to stdout as it is laid out: unsafe characters other than
/// `\n` escaped. A reader that went away (`| head`) is not an error.
pub(crate) fn stdout_text(text: &str) -> anyhow::Result<()> {
    write_stdout(escape_but_newlines(text).as_bytes())
}

/// [`stdout_text`] of formatted text, with a newline after it.
pub(crate) fn stdout_line(args: fmt::Arguments<'_>) -> anyhow::Result<()> {
    let mut text = fmt::format(args);
    text.push('\n');
    stdout_text(&text)
}

/// A JSON text already made by serde_json (one document, or one per line),
/// written as it is after [`json_escape`].
pub(crate) fn json_text(text: &str) -> anyhow::Result<()> {
    write_stdout(json_escape(text).as_bytes())
}

/// `value` as one compact JSON document on its own line.
pub(crate) fn json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut text = serde_json::to_string(value)?;
    text.push('\n');
    json_text(&text)
}

/// `value` as one pretty-printed JSON document, with a newline after it.
pub(crate) fn json_pretty(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    json_text(&text)
}

fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    let mut stdout = io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(error) if error.kind() == ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to stdout"),
    }
}

/// Writes `text` to stderr as it is laid out (unsafe characters other than
/// `\n` escaped). A notice that cannot be shown does not fail the command.
pub(crate) fn stderr_text(text: &str) {
    let mut stderr = io::stderr().lock();
    let _ = stderr.write_all(escape_but_newlines(text).as_bytes());
    let _ = stderr.flush();
}

/// [`stderr_text`] of formatted text, with a newline after it.
pub(crate) fn stderr_line(args: fmt::Arguments<'_>) {
    let mut text = fmt::format(args);
    text.push('\n');
    stderr_text(&text);
}

/// [`stderr_text`] of formatted text, as it is.
pub(crate) fn stderr_fmt(args: fmt::Arguments<'_>) {
    stderr_text(&fmt::format(args));
}

/// Whether stderr is a terminal (progress is redrawn in place there).
pub(crate) fn stderr_is_terminal() -> bool {
    io::stderr().is_terminal()
}

/// A progress line: redrawn in place (`\r` first, no newline) on a terminal,
/// one line each otherwise. The `\r` is the program's own; `line` is escaped
/// whole.
pub(crate) fn progress(line: &str, in_place: bool) {
    if in_place {
        let mut stderr = io::stderr().lock();
        let _ = write!(stderr, "\r{}", escape(line));
        let _ = stderr.flush();
    } else {
        stderr_line(format_args!("{}", escape(line)));
    }
}

/// Writes a result line to stdout through [`crate::output`]; the arguments
/// are those of `println!`. Returns `anyhow::Result<()>`.
macro_rules! sh_println {
    () => { $crate::output::stdout_text("\n") };
    ($($arg:tt)*) => { $crate::output::stdout_line(format_args!($($arg)*)) };
}

/// Writes a notice line to stderr through [`crate::output`]; the arguments
/// are those of `eprintln!`.
macro_rules! sh_eprintln {
    () => { $crate::output::stderr_text("\n") };
    ($($arg:tt)*) => { $crate::output::stderr_line(format_args!($($arg)*)) };
}

/// Like `sh_eprintln!`, without the newline.
macro_rules! sh_eprint {
    ($($arg:tt)*) => { $crate::output::stderr_fmt(format_args!($($arg)*)) };
}

// ---------------------------------------------------------------------- logs

/// Where `tracing` writes: stderr, after escaping what tracing-subscriber
/// leaves raw. tracing-subscriber (0.3.20 and later) escapes ESC, BEL, BS, FF,
/// DEL and the C1 controls in messages and fields, and may colour the line
/// with ESC sequences of its own, so ESC passes here; CR, the other C0
/// controls, bidi controls and every newline but the one ending the event
/// are escaped. tracing-subscriber writes each event with one `write_all` of
/// its whole buffer.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LogWriter;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        LogWriter
    }
}

impl io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let (body, end) = match text.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (&*text, ""),
        };
        let body = escape_where(body, |c| c != '\x1b' && is_unsafe(c));
        let mut stderr = io::stderr().lock();
        stderr.write_all(body.as_bytes())?;
        stderr.write_all(end.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        for text in ["", "plain title", "Ünïcødé ✓ 名前 →", r"C:\path\e", "a  b"] {
            assert!(matches!(escape(text), Cow::Borrowed(t) if t == text));
        }
    }

    #[test]
    fn each_class_of_control_is_shown_escaped() {
        assert_eq!(escape("a\u{1b}[2Jb"), r"a\u{1b}[2Jb"); // ESC
        assert_eq!(escape("a\rb"), r"a\rb"); // CR
        assert_eq!(escape("a\nb"), r"a\nb"); // LF inside a field
        assert_eq!(escape("a\tb"), r"a\tb"); // TAB
        assert_eq!(escape("a\0b\u{7}"), r"a\u{0}b\u{7}"); // NUL, BEL
        assert_eq!(escape("a\u{7f}b"), r"a\u{7f}b"); // DEL
        assert_eq!(escape("a\u{9b}31mb\u{85}"), r"a\u{9b}31mb\u{85}"); // C1: CSI, NEL
    }

    #[test]
    fn bidi_controls_are_shown_escaped() {
        for (c, shown) in [
            ('\u{202A}', r"\u{202a}"),
            ('\u{202B}', r"\u{202b}"),
            ('\u{202C}', r"\u{202c}"),
            ('\u{202D}', r"\u{202d}"),
            ('\u{202E}', r"\u{202e}"),
            ('\u{2066}', r"\u{2066}"),
            ('\u{2067}', r"\u{2067}"),
            ('\u{2068}', r"\u{2068}"),
            ('\u{2069}', r"\u{2069}"),
            ('\u{200E}', r"\u{200e}"),
            ('\u{200F}', r"\u{200f}"),
            ('\u{061C}', r"\u{61c}"),
            ('\u{2028}', r"\u{2028}"),
            ('\u{2029}', r"\u{2029}"),
        ] {
            assert_eq!(escape(&format!("x{c}y")), format!("x{shown}y"));
        }
        // Letters of right-to-left scripts are text, not controls.
        assert_eq!(escape("שלום مرحبا"), "שלום مرحبا");
    }

    #[test]
    fn the_fake_alert_from_the_issue_stays_on_one_line() {
        let title = "hello\u{1b}[2J\u{1b}[H\rCRITICAL ALL CLEAR\nLOW fired fake";
        let shown = escape(title);
        assert_eq!(
            shown,
            r"hello\u{1b}[2J\u{1b}[H\rCRITICAL ALL CLEAR\nLOW fired fake"
        );
        assert!(!shown.contains(is_unsafe));
    }

    #[test]
    fn a_long_string_is_escaped_whole() {
        let unit = "label\u{1b}[31m\u{202e}";
        let long = unit.repeat(10_000);
        let shown = escape(&long);
        assert!(!shown.contains(is_unsafe));
        assert_eq!(shown, r"label\u{1b}[31m\u{202e}".repeat(10_000));
    }

    #[test]
    fn escaped_pads_the_escaped_text() {
        assert_eq!(format!("[{:<8}]", escaped("a\rb")), r"[a\rb    ]");
        assert_eq!(format!("[{:>6}]", escaped("ok")), "[    ok]");
        assert_eq!(format!("{}", escaped(7)), "7");
    }

    #[test]
    fn layout_newlines_survive_and_nothing_else() {
        assert_eq!(
            escape_but_newlines("line one\nline \u{1b}two\r\n"),
            "line one\nline \\u{1b}two\\r\n"
        );
    }

    #[test]
    fn json_stays_valid_and_means_the_same() {
        let value = serde_json::json!({
            "title": "a\u{1b}[2J\r\n\u{7f}\u{9b}\u{202e}b\u{2066}",
            "plain": "Ünïcødé",
        });
        for text in [
            serde_json::to_string(&value).unwrap(),
            serde_json::to_string_pretty(&value).unwrap(),
        ] {
            let safe = json_escape(&text);
            assert!(!safe.contains(|c| c != '\n' && is_unsafe(c)), "{safe}");
            assert!(safe.contains(r"\u202e"), "{safe}");
            let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
            assert_eq!(back, value);
        }
        let plain = serde_json::to_string_pretty(&serde_json::json!({"a": "b"})).unwrap();
        assert!(matches!(json_escape(&plain), Cow::Borrowed(_)));
    }

    #[test]
    fn log_lines_keep_their_colours_and_lose_the_rest() {
        let body = "\u{1b}[33m WARN\u{1b}[0m title\r\nfake\u{202e}";
        let shown = escape_where(body, |c| c != '\u{1b}' && is_unsafe(c));
        assert_eq!(shown, "\u{1b}[33m WARN\u{1b}[0m title\\r\\nfake\\u{202e}");
    }

    proptest! {
        #[test]
        fn escaped_text_holds_no_control_or_bidi_char(text in any::<String>()) {
            let shown = escape(&text);
            prop_assert!(!shown.contains(is_unsafe));
            let laid_out = escape_but_newlines(&text);
            prop_assert!(!laid_out.contains(|c| c != '\n' && is_unsafe(c)));
            prop_assert_eq!(laid_out.matches('\n').count(), text.matches('\n').count());
        }

        #[test]
        fn printable_text_is_unchanged(text in "[^\\p{Cc}\u{061C}\u{200E}\u{200F}\u{202A}-\u{202E}\u{2066}-\u{2069}\u{2028}\u{2029}]*") {
            prop_assert_eq!(escape(&text), text.as_str());
        }

        #[test]
        fn json_of_any_string_is_safe_and_round_trips(text in any::<String>()) {
            let doc = serde_json::to_string_pretty(&serde_json::json!({ "s": text })).unwrap();
            let safe = json_escape(&doc);
            prop_assert!(!safe.contains(|c| c != '\n' && is_unsafe(c)));
            let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
            prop_assert_eq!(back["s"].as_str(), Some(text.as_str()));
        }
    }
}
