//! Diagnostics with `file:line:col`, collected rather than stopping at the first.

use std::fmt;
use std::path::PathBuf;

/// A position in one of the loaded dictionary files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    /// Index of the file in the [`Sources`].
    pub file: usize,
    /// Byte offset of the start of the element or attribute.
    pub offset: usize,
}

/// The dictionary texts being compiled, to turn spans into `file:line:col`.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    files: Vec<(PathBuf, String)>,
}

impl Sources {
    /// Adds a file's text; returns its index.
    pub fn add(&mut self, path: PathBuf, text: String) -> usize {
        self.files.push((path, text));
        self.files.len() - 1
    }
    /// The text of a file.
    pub fn text(&self, file: usize) -> &str {
        &self.files[file].1
    }
    /// The path of a file.
    pub fn path(&self, file: usize) -> &PathBuf {
        &self.files[file].0
    }
    /// Number of files.
    pub fn len(&self) -> usize {
        self.files.len()
    }
    /// Whether no file was added.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
    /// `path:line:col` of a span (1-based line and column).
    pub fn locate(&self, span: Span) -> (PathBuf, u32, u32) {
        let text = self.text(span.file);
        let before = &text[..span.offset.min(text.len())];
        let line = before.matches('\n').count() as u32 + 1;
        let col = before
            .rsplit('\n')
            .next()
            .map(|l| l.chars().count())
            .unwrap_or(0) as u32
            + 1;
        (self.path(span.file).clone(), line, col)
    }
    /// A located diagnostic.
    pub fn diag(&self, span: Span, message: impl Into<String>) -> Diagnostic {
        let (file, line, col) = self.locate(span);
        Diagnostic {
            file,
            line,
            col,
            message: message.into(),
        }
    }
    /// `file:line:col` as text, to cite another definition in a message.
    pub fn at(&self, span: Span) -> String {
        let (file, line, col) = self.locate(span);
        format!("{}:{line}:{col}", file.display())
    }
}

/// One problem found in a dictionary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// The dictionary file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub col: u32,
    /// What is wrong, naming the item.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.col,
            self.message
        )
    }
}

impl std::error::Error for Diagnostic {}

/// Collects diagnostics while a pass runs.
#[derive(Debug, Default)]
pub struct Diags {
    /// The diagnostics so far, in the order found.
    pub list: Vec<Diagnostic>,
}

impl Diags {
    /// Records a problem.
    pub fn push(&mut self, sources: &Sources, span: Span, message: impl Into<String>) {
        self.list.push(sources.diag(span, message));
    }
}

/// Every problem found by [`Config::compile`](crate::Config::compile): usable with `?`, and
/// its `Display` prints all of them, one `file:line:col: message` per line.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

/// As `Display`, so `fn main() -> Result<(), Diagnostics>` in a build script prints
/// every problem readably.
impl fmt::Debug for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        write!(f, "{} problem(s) in the dictionaries", self.0.len())
    }
}

impl std::error::Error for Diagnostics {}

impl From<Vec<Diagnostic>> for Diagnostics {
    fn from(list: Vec<Diagnostic>) -> Self {
        Self(list)
    }
}

impl std::ops::Deref for Diagnostics {
    type Target = [Diagnostic];
    fn deref(&self) -> &[Diagnostic] {
        &self.0
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnostics_print_every_problem_and_work_with_question_mark() {
        let d = |line| Diagnostic {
            file: "a.xml".into(),
            line,
            col: 2,
            message: format!("problem {line}"),
        };
        let all = Diagnostics(vec![d(1), d(7)]);
        assert_eq!(
            all.to_string(),
            "a.xml:1:2: problem 1\na.xml:7:2: problem 7\n2 problem(s) in the dictionaries"
        );
        fn build() -> Result<(), Box<dyn std::error::Error>> {
            Err(Diagnostics(vec![Diagnostic {
                file: "b.xml".into(),
                line: 3,
                col: 4,
                message: "x".into(),
            }]))?;
            Ok(())
        }
        assert!(build().unwrap_err().to_string().starts_with("b.xml:3:4: x"));
    }
}
