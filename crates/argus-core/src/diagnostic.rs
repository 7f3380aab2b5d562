//! One problem in what a person wrote (a config, a rule file), with where it
//! is, so every loader reports the same way: `argus.yaml:12:5: message`.
//!
//! Loaders collect *every* diagnostic before refusing a file, so a user fixes
//! a config in one pass.

use std::fmt;

use serde::Serialize;

/// A problem in a file, where it is.
///
/// Shown as `file:line:column: message`, or `file: message` when the line is
/// not known (0). A problem found inside one item of a file (a section checked
/// on its own, before its place in the file is known) carries its dotted key
/// `path` (`alerting.notifiers.ops.url`), shown before the message; without a
/// file it is shown as `path: message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// The file as shown to the user; empty when not known yet.
    pub file: String,
    /// 1-based; 0 when unknown.
    pub line: u64,
    /// 1-based; 0 when unknown.
    pub column: u64,
    /// Where inside the item, as a dotted key path, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// What is wrong and what to write instead.
    pub message: String,
}

impl Diagnostic {
    /// A problem at `line:column` of `file`.
    pub fn new(
        file: impl Into<String>,
        line: u64,
        column: u64,
        message: impl Into<String>,
    ) -> Self {
        Self {
            file: file.into(),
            line,
            column,
            path: None,
            message: message.into(),
        }
    }

    /// A problem with a whole file (it cannot be read, it is empty…).
    pub fn in_file(file: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(file, 0, 0, message)
    }

    /// A problem at a key path of an item whose file is not known here; the
    /// loader that knows it places the diagnostic with [`Diagnostic::at`].
    pub fn at_path(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: Some(path.into()),
            ..Self::new("", 0, 0, message)
        }
    }

    /// The same problem, placed at `line:column` of `file`.
    pub fn at(self, file: impl Into<String>, line: u64, column: u64) -> Self {
        Self {
            file: file.into(),
            line,
            column,
            ..self
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.file.is_empty() {
            f.write_str(&self.file)?;
            if self.line > 0 {
                write!(f, ":{}:{}", self.line, self.column)?;
            }
            f.write_str(": ")?;
        }
        if let Some(path) = &self.path {
            write!(f, "{path}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// An error and its sources on one line, each cause once (`a: b: c`):
/// what a log line or a message shows of a library's error whose own
/// `Display` names only the outermost layer.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let part = inner.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_with_what_is_known() {
        assert_eq!(
            Diagnostic::new("rules.yaml", 3, 7, "unknown key `sevrity`").to_string(),
            "rules.yaml:3:7: unknown key `sevrity`"
        );
        assert_eq!(
            Diagnostic::in_file("argus.yaml", "cannot read the config file").to_string(),
            "argus.yaml: cannot read the config file"
        );
        let keyed = Diagnostic::at_path("alerting.notifiers.ops.url", "not a URL");
        assert_eq!(keyed.to_string(), "alerting.notifiers.ops.url: not a URL");
        assert_eq!(
            keyed.at("argus.yaml", 12, 3).to_string(),
            "argus.yaml:12:3: alerting.notifiers.ops.url: not a URL"
        );
    }

    #[test]
    fn serialized_without_an_absent_path() {
        let json = serde_json::to_value(Diagnostic::new("a.yaml", 1, 2, "m")).unwrap_or_default();
        assert_eq!(
            json,
            serde_json::json!({"file": "a.yaml", "line": 1, "column": 2, "message": "m"})
        );
    }
}
