//! TOML configuration files: reading, and errors that name the file, line and column, show
//! the line, and say how to fix it.

use super::exit::CliError;
use serde::de::DeserializeOwned;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A configuration file's name and text, kept to point into it in error messages.
#[derive(Clone, Debug)]
pub struct ConfigFile {
    /// The path as given.
    pub path: PathBuf,
    /// The whole text.
    pub text: String,
}

impl ConfigFile {
    /// Reads a file; a missing or unreadable file is a usage error naming it.
    pub fn read(path: &Path) -> Result<ConfigFile, CliError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            CliError::usage(format!(
                "{}: cannot read the configuration file: {e}\n  = fix: check the path given to --config",
                path.display()
            ))
        })?;
        Ok(ConfigFile {
            path: path.to_owned(),
            text,
        })
    }

    /// Parses the text as `T`; a syntax or schema error names the place and the fix.
    pub fn parse<T: DeserializeOwned>(&self, example: &str) -> Result<T, CliError> {
        toml::from_str(&self.text).map_err(|e| {
            let fix = fix_for(e.message(), example);
            self.error(e.span(), e.message().trim_end(), &fix)
        })
    }

    /// 1-based line and column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let col = before
            .rfind('\n')
            .map_or(before.len(), |i| before.len() - i - 1)
            + 1;
        (line, col)
    }

    /// A configuration error at a place in the file, with the line shown and a fix.
    pub fn error(&self, span: Option<Range<usize>>, message: &str, fix: &str) -> CliError {
        let mut out = String::new();
        match span {
            Some(span) => {
                let (line, col) = self.line_col(span.start);
                out.push_str(&format!(
                    "{}:{line}:{col}: {message}\n",
                    self.path.display()
                ));
                let text = self.text.lines().nth(line - 1).unwrap_or("");
                let width = span.end.saturating_sub(span.start).max(1);
                let width = width.min(text.len().saturating_sub(col - 1).max(1));
                let gutter = " ".repeat(line.to_string().len());
                out.push_str(&format!("{gutter} |\n{line} | {text}\n{gutter} | "));
                out.push_str(&" ".repeat(col - 1));
                out.push_str(&"^".repeat(width));
                out.push('\n');
            }
            None => out.push_str(&format!("{}: {message}\n", self.path.display())),
        }
        out.push_str(&format!("  = fix: {fix}"));
        CliError::usage(out)
    }
}

/// A fix suggestion for a toml/serde error message.
fn fix_for(message: &str, example: &str) -> String {
    if let Some(s) = misspelt_key(message) {
        return s;
    }
    if message.contains("unknown field") {
        format!("remove or rename the key: the allowed keys are listed above; an example file:\n{example}")
    } else if message.contains("missing field") {
        format!("add the key to the table; an example file:\n{example}")
    } else if message.contains("unknown variant") {
        "use one of the values listed above".into()
    } else if message.contains("invalid type") {
        "give the value the type the message asks for (text in quotes, numbers without)".into()
    } else if message.contains("duplicate key") {
        "keep one of the two definitions".into()
    } else {
        "correct the TOML syntax at the place shown (strings need quotes, tables [name], arrays of tables [[name]])".into()
    }
}

/// For `unknown field `x`, expected one of `a`, `b``: the nearest allowed key.
fn misspelt_key(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (field, rest) = rest.split_once('`')?;
    let allowed: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
    let close = super::suggest::closest(field, allowed.into_iter());
    let best = close.first()?;
    Some(format!("rename `{field}` to `{best}`"))
}

/// Reads and parses in one step.
pub fn load<T: DeserializeOwned>(path: &Path, example: &str) -> Result<(T, ConfigFile), CliError> {
    let file = ConfigFile::read(path)?;
    let value = file.parse(example)?;
    Ok((value, file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct T {
        a: u32,
    }

    #[test]
    fn names_line_and_column() {
        let f = ConfigFile {
            path: "x.toml".into(),
            text: "# comment\nb = 1\n".into(),
        };
        let e = f.parse::<T>("a = 1").unwrap_err().message;
        assert!(e.starts_with("x.toml:2:1: unknown field `b`"), "{e}");
        assert!(e.contains("= fix:"), "{e}");
    }
}
