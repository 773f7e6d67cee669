//! The `diameter` command line: subcommands and their shared helpers.
