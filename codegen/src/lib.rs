//! Compiles Diameter XML dictionaries into typed Rust, for use from `build.rs`.
//!
//! ```no_run
//! // build.rs of a crate that adds its own dictionary to the standard ones
//! fn main() -> Result<(), diameter_codegen::Diagnostics> {
//!     diameter_codegen::Config::new()
//!         .standard_dictionaries()
//!         // types of dictionaries you do not extend come from the `diameter` crate
//!         .extern_dictionary("base_rfc6733", "::diameter::dict::base_rfc6733")
//!         .dictionary("dictionaries/acme.xml")
//!         .compile()?; // on error, prints every `file:line:col: message`
//!     Ok(())
//! }
//! ```
//! and in the crate: `diameter::include_dictionaries!();` (or, without the `diameter` crate,
//! `pub mod dict { include!(concat!(env!("OUT_DIR"), "/dictionaries.rs")); }`).
//!
//! The pipeline has three stages, each a module with its own data:
//! 1. parsing: [`parse`] (XML text → element tree with spans) and [`load`] (element tree →
//!    the [`raw`] tree: each dictionary as written, names unresolved);
//! 2. checking: [`resolve`] turns all raw dictionaries into the [`checked`] model (names
//!    resolved, types, grammars, imports, extensions and overrides checked);
//! 3. emission: [`emit`] turns the checked model into Rust source text.
//!
//! Every problem of every file is reported as `file:line:col: message` before failing.
#![warn(missing_docs)]

pub mod checked;
pub mod diag;
pub mod emit;
pub mod load;
pub mod names;
pub mod parse;
pub mod raw;
pub mod reference;
pub mod resolve;

pub use checked::Model;
pub use diag::{Diagnostic, Diagnostics, Sources};

use std::path::{Path, PathBuf};

/// The dictionaries shipped with this crate: RFC 6733, RFC 4006/8506, RFC 4740, TS 32.299.
pub const STANDARD_DICTIONARIES: &[(&str, &str)] = &[
    (
        "base_rfc6733.xml",
        include_str!("../dictionaries/base_rfc6733.xml"),
    ),
    (
        "dcca_rfc4006.xml",
        include_str!("../dictionaries/dcca_rfc4006.xml"),
    ),
    (
        "sip_rfc4740.xml",
        include_str!("../dictionaries/sip_rfc4740.xml"),
    ),
    (
        "tgpp_ts32299.xml",
        include_str!("../dictionaries/tgpp_ts32299.xml"),
    ),
];

/// What to compile and where to write it.
#[derive(Clone, Debug, Default)]
pub struct Config {
    // Standard dictionaries asked for by a name that does not exist.
    files: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
    embedded: Vec<(PathBuf, String)>,
    out_dir: Option<PathBuf>,
    file_name: Option<String>,
    unknown: Vec<String>,
    externs: std::collections::BTreeMap<String, String>,
}

impl Config {
    /// An empty configuration.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one dictionary file.
    pub fn dictionary(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.files.push(path.as_ref().to_path_buf());
        self
    }

    /// Adds every `*.xml` file of a folder (sorted by name).
    pub fn dictionary_dir(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.dirs.push(path.as_ref().to_path_buf());
        self
    }

    /// Adds a dictionary given as text (`name` is used in diagnostics).
    pub fn dictionary_text(
        &mut self,
        name: impl Into<PathBuf>,
        text: impl Into<String>,
    ) -> &mut Self {
        self.embedded.push((name.into(), text.into()));
        self
    }

    /// Adds the standard dictionaries shipped with this crate, so a user's own dictionary
    /// can import and extend them.
    pub fn standard_dictionaries(&mut self) -> &mut Self {
        for (name, text) in STANDARD_DICTIONARIES {
            self.dictionary_text(format!("<diameter-codegen>/dictionaries/{name}"), *text);
        }
        self
    }

    /// Adds one standard dictionary by module name (`base_rfc6733`, `dcca_rfc4006`,
    /// `sip_rfc4740`, `tgpp_ts32299`); imports must be added too. An unknown name is reported by `compile`.
    pub fn standard_dictionary(&mut self, name: &str) -> &mut Self {
        let file = format!("{name}.xml");
        if let Some((file, text)) = STANDARD_DICTIONARIES.iter().find(|(f, _)| *f == file) {
            self.dictionary_text(format!("<diameter-codegen>/dictionaries/{file}"), *text);
        } else {
            self.unknown.push(name.to_string());
        }
        self
    }

    /// Names the already generated module of dictionary `module` by `rust_path` instead of
    /// generating it again, like prost-build's `extern_path`:
    /// `.extern_dictionary("base_rfc6733", "::diameter::dict::base_rfc6733")`. The dictionary
    /// must still be added (its definitions are needed to check the others), and no
    /// dictionary but the standard ones (compiled together in the `diameter` crate) may extend
    /// or override it (its types would then differ): that is an error.
    pub fn extern_dictionary(
        &mut self,
        module: impl Into<String>,
        rust_path: impl Into<String>,
    ) -> &mut Self {
        self.externs.insert(module.into(), rust_path.into());
        self
    }

    /// The output folder (default: `$OUT_DIR`).
    pub fn out_dir(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.out_dir = Some(path.as_ref().to_path_buf());
        self
    }

    /// The output file name (default: `dictionaries.rs`).
    pub fn file_name(&mut self, name: impl Into<String>) -> &mut Self {
        self.file_name = Some(name.into());
        self
    }

    fn read_sources(&self) -> Result<Sources, Vec<Diagnostic>> {
        let mut sources = Sources::default();
        let mut errors: Vec<Diagnostic> = self
            .unknown
            .iter()
            .map(|n| Diagnostic {
                file: PathBuf::from(n),
                line: 0,
                col: 0,
                message: format!("no standard dictionary named `{n}`"),
            })
            .collect();
        let io_error = |path: &Path, e: std::io::Error| Diagnostic {
            file: path.to_path_buf(),
            line: 0,
            col: 0,
            message: format!("cannot read: {e}"),
        };
        let mut files = self.files.clone();
        for dir in &self.dirs {
            match std::fs::read_dir(dir) {
                Ok(entries) => {
                    let mut found: Vec<PathBuf> = entries
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
                        .collect();
                    found.sort();
                    files.extend(found);
                }
                Err(e) => errors.push(io_error(dir, e)),
            }
        }
        for f in files {
            match std::fs::read_to_string(&f) {
                Ok(text) => {
                    sources.add(f, text);
                }
                Err(e) => errors.push(io_error(&f, e)),
            }
        }
        for (name, text) in &self.embedded {
            sources.add(name.clone(), text.clone());
        }
        if errors.is_empty() {
            Ok(sources)
        } else {
            Err(errors)
        }
    }

    /// Reads and checks the dictionaries without generating code.
    pub fn load(&self) -> Result<Model, Vec<Diagnostic>> {
        let mut model = load_sources(&self.read_sources()?)?;
        apply_externs(&mut model, &self.externs)?;
        Ok(model)
    }

    /// Generates the Rust source text.
    pub fn generate(&self) -> Result<String, Vec<Diagnostic>> {
        Ok(emit::generate(&self.load()?))
    }

    /// Generates and writes `<out_dir>/<file_name>` (default `dictionaries.rs`), which
    /// declares one module per dictionary, each in its own file `<out_dir>/<module>.rs`.
    /// Files are only rewritten when their text changed. Prints `cargo:rerun-if-changed` for
    /// each input when run from a build script. The error prints every problem found.
    pub fn compile(&self) -> Result<PathBuf, Diagnostics> {
        if std::env::var_os("CARGO").is_some() && std::env::var_os("OUT_DIR").is_some() {
            for f in self.files.iter().chain(&self.dirs) {
                println!("cargo:rerun-if-changed={}", f.display());
            }
        }
        let model = self.load()?;
        let out_dir = match &self.out_dir {
            Some(d) => d.clone(),
            None => PathBuf::from(std::env::var_os("OUT_DIR").ok_or_else(|| {
                vec![Diagnostic {
                    file: PathBuf::new(),
                    line: 0,
                    col: 0,
                    message: "OUT_DIR is not set; call out_dir()".into(),
                }]
            })?),
        };
        let main = self.file_name.as_deref().unwrap_or("dictionaries.rs");
        for (name, code) in emit::generate_files(&model, main) {
            let path = out_dir.join(&name);
            let unchanged = std::fs::read_to_string(&path).is_ok_and(|old| old == code);
            if !unchanged {
                std::fs::write(&path, code).map_err(|e| {
                    vec![Diagnostic {
                        file: path.clone(),
                        line: 0,
                        col: 0,
                        message: format!("cannot write: {e}"),
                    }]
                })?;
            }
        }
        Ok(out_dir.join(main))
    }
}

/// Marks the extern modules, checking each is known, has a valid path and is not changed
/// by another dictionary.
fn apply_externs(
    model: &mut Model,
    externs: &std::collections::BTreeMap<String, String>,
) -> Result<(), Vec<Diagnostic>> {
    let mut errors = Vec::new();
    let diag = |module: &str, message: String| Diagnostic {
        file: PathBuf::from(format!("<extern_dictionary {module}>")),
        line: 0,
        col: 0,
        message,
    };
    // The standard dictionaries are compiled together (as the `diameter` crate does), so
    // their extensions of each other are part of the extern types too.
    let standard = |by: &[String]| {
        by.iter().all(|d| {
            STANDARD_DICTIONARIES
                .iter()
                .any(|(f, _)| f.strip_suffix(".xml") == Some(d.as_str()))
        })
    };
    for (module, path) in externs {
        let Some(m) = model.modules.iter().position(|md| &md.name == module) else {
            errors.push(diag(
                module,
                format!("extern dictionary `{module}` is not among the dictionaries compiled"),
            ));
            continue;
        };
        if syn::parse_str::<syn::Path>(path).is_err() {
            errors.push(diag(
                module,
                format!("extern path `{path}` of `{module}` is not a Rust path"),
            ));
        }
        let changed_avps = model
            .avps
            .iter()
            .filter(|a| a.module == m && (!standard(&a.extended_by) || a.overridden_by.is_some()))
            .map(|a| a.name.clone());
        let changed_commands = model
            .commands
            .iter()
            .filter(|c| c.module == m && !standard(&c.extended_by))
            .map(|c| c.name.clone());
        for name in changed_avps.chain(changed_commands) {
            errors.push(diag(
                module,
                format!(
                    "`{name}` of extern dictionary `{module}` is extended or overridden; \
                     generate `{module}` instead of naming it extern"
                ),
            ));
        }
        model.modules[m].extern_path = Some(path.clone());
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Parses, reads and resolves already-loaded texts.
pub fn load_sources(sources: &Sources) -> Result<Model, Vec<Diagnostic>> {
    let mut diags = diag::Diags::default();
    let mut dicts = Vec::new();
    for file in 0..sources.len() {
        if let Some(root) = parse::parse(sources, file, &mut diags) {
            dicts.push(load::dictionary(&root, sources, &mut diags));
        }
    }
    let model = resolve::resolve(dicts, sources, &mut diags);
    if diags.list.is_empty() {
        Ok(model)
    } else {
        Err(diags.list)
    }
}
