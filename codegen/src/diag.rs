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
