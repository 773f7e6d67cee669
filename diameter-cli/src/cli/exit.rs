//! Exit codes of the `diameter` command and the error type that carries one.

use std::fmt;
use std::process::ExitCode;

/// Success.
pub const OK: u8 = 0;
/// The operation ran but failed: a non-2xxx Result-Code, malformed input to `decode`,
/// requests that timed out in `bench`, a look-up that found nothing.
pub const FAILURE: u8 = 1;
/// Bad usage or configuration: unknown flag, bad value, invalid config file.
pub const USAGE: u8 = 2;
/// The network or the peer failed: cannot connect, capabilities exchange refused, no answer.
pub const NETWORK: u8 = 3;

/// An error that ends the command with a message and an exit code.
#[derive(Debug)]
pub struct CliError {
    /// The exit code, one of the constants of this module.
    pub code: u8,
    /// What to print on standard error (without the `error: ` prefix).
    pub message: String,
}

impl CliError {
    /// A failure (exit code 1).
    pub fn failure(message: impl Into<String>) -> Self {
        CliError {
            code: FAILURE,
            message: message.into(),
        }
    }
    /// A usage or configuration error (exit code 2).
    pub fn usage(message: impl Into<String>) -> Self {
        CliError {
            code: USAGE,
            message: message.into(),
        }
    }
    /// A network or peer error (exit code 3).
    pub fn network(message: impl Into<String>) -> Self {
        CliError {
            code: NETWORK,
            message: message.into(),
        }
    }
    /// The process exit code.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.code)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

/// The result of a subcommand: the exit code to use on success paths (0 or 1).
pub type CliResult = Result<u8, CliError>;
