//! Colour on standard output, only when it is a terminal (and `NO_COLOR` is unset).

use std::io::IsTerminal;

/// When to colour output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour when standard output is a terminal and `NO_COLOR` is not set.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// What a piece of text is, which decides its colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A command or AVP name.
    Name,
    /// A code, flags, lengths: secondary detail.
    Dim,
    /// A decoded value.
    Value,
    /// Something wrong.
    Error,
    /// A heading.
    Heading,
}

/// Paints text with ANSI colours when enabled.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    enabled: bool,
}

impl Style {
    /// Decides from the choice, the terminal and the environment.
    pub fn new(choice: ColorChoice) -> Style {
        let enabled = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::io::stdout().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none()
                    && std::env::var("TERM").map(|t| t != "dumb").unwrap_or(true)
            }
        };
        Style { enabled }
    }

    /// The same decision for standard error.
    pub fn new_stderr(choice: ColorChoice) -> Style {
        let enabled = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
            }
        };
        Style { enabled }
    }

    /// No colour at all.
    pub fn plain() -> Style {
        Style { enabled: false }
    }

    /// Whether colour is on.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The text wrapped in the colour of its role.
    pub fn paint(&self, role: Role, text: &str) -> String {
        if !self.enabled {
            return text.to_owned();
        }
        let code = match role {
            Role::Name => "1;36",
            Role::Dim => "2",
            Role::Value => "32",
            Role::Error => "1;31",
            Role::Heading => "1",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }
}
