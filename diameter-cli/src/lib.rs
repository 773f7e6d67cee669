//! The `diameter` command line (servers, client, decoder, dictionary browser, load
//! generator) on top of [`diameter_apps`]; see `diameter --help`. The library exists for the
//! binary, its tests and the fuzz targets; it is not a stable API.
#![warn(missing_docs)]

pub mod cli;
