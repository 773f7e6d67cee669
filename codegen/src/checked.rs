//! The checked model: every name resolved to its definition, types and grammars checked,
//! extensions and overrides applied. Plain data (no XML, no tokens), the input of [`emit`](crate::emit).

use crate::diag::Span;
use crate::raw::{EntryKind, EnumValue, Flags};

/// The base types of RFC 6733 §4.2 and §4.3 (the runtime's own enum, so both agree).
pub use diameter_core::dictionary::DataType as BaseType;

/// A resolved grammar entry.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Index into [`Model::avps`].
    pub avp: usize,
    /// Kind.
    pub kind: EntryKind,
    /// Fewest occurrences.
    pub min: u32,
    /// Most occurrences (`None` unbounded).
    pub max: Option<u32>,
    /// Doc text.
    pub doc: String,
    /// The dictionary that added the entry.
    pub origin: String,
}

/// A resolved grammar.
#[derive(Clone, Debug, Default)]
pub struct Grammar {
    /// Entries in order.
    pub entries: Vec<Entry>,
    /// `*[ AVP ]`.
    pub any: bool,
    /// Specification reference.
    pub spec: String,
}

/// A resolved AVP.
#[derive(Clone, Debug)]
pub struct Avp {
    /// Name.
    pub name: String,
    /// Code.
    pub code: u32,
    /// Vendor-Id (0 for none).
    pub vendor: u32,
    /// Base type.
    pub ty: BaseType,
    /// Type name as written (a typedef name or a base type name).
    pub type_name: String,
    /// Must flags.
    pub must: Flags,
    /// May flags.
    pub may: Flags,
    /// Index of the defining module.
    pub module: usize,
    /// Specification reference.
    pub spec: String,
    /// Release.
    pub release: String,
    /// Doc text.
    pub doc: String,
    /// Enum values.
    pub enums: Vec<EnumValue>,
    /// Grouped grammar.
    pub grouped: Option<Grammar>,
    /// Dictionaries that extended it.
    pub extended_by: Vec<String>,
    /// Dictionary whose definition replaced the original.
    pub overridden_by: Option<String>,
    /// Stored as `Boxed<T>` where it occurs at most once (`boxed="true"`, Grouped only).
    pub boxed: bool,
    pub(crate) span: Span,
}

/// A resolved command.
#[derive(Clone, Debug)]
pub struct Command {
    /// Defining module.
    pub module: usize,
    /// Application-Id.
    pub application_id: u32,
    /// Name.
    pub name: String,
    /// Abbreviation stem.
    pub short: String,
    /// Code.
    pub code: u32,
    /// P bit.
    pub proxiable: bool,
    /// Specification reference.
    pub spec: String,
    /// Doc text.
    pub doc: String,
    /// Request grammar.
    pub request: Grammar,
    /// Answer grammar.
    pub answer: Grammar,
    /// Dictionaries that extended it.
    pub extended_by: Vec<String>,
}

/// A resolved application.
#[derive(Clone, Debug)]
pub struct Application {
    /// Defining module.
    pub module: usize,
    /// Application-Id.
    pub id: u32,
    /// Name.
    pub name: String,
    /// Accounting application.
    pub accounting: bool,
    /// Vendor-Id or 0.
    pub vendor: u32,
    /// Specification reference.
    pub spec: String,
    /// Doc text.
    pub doc: String,
    /// Indexes of its own commands.
    pub commands: Vec<usize>,
    /// Indexes of commands it uses from elsewhere.
    pub uses: Vec<usize>,
}

/// A resolved Result-Code.
#[derive(Clone, Debug)]
pub struct ResultCode {
    /// Defining module.
    pub module: usize,
    /// Name.
    pub name: String,
    /// Value.
    pub value: u32,
    /// Specification reference.
    pub spec: String,
    /// Doc text.
    pub doc: String,
}

/// One module (dictionary).
#[derive(Clone, Debug)]
pub struct Module {
    /// Name.
    pub name: String,
    /// Specification reference.
    pub spec: String,
    /// Link.
    pub href: String,
    /// Doc text.
    pub doc: String,
    /// Imported modules.
    pub imports: Vec<String>,
    /// The Rust path of an already generated copy (`Config::extern_dictionary`): the module
    /// is then not emitted, and its types are named through this path.
    pub extern_path: Option<String>,
}

/// Everything resolved, ready to emit.
#[derive(Clone, Debug, Default)]
pub struct Model {
    /// Modules, sorted by name.
    pub modules: Vec<Module>,
    /// AVPs, in definition order.
    pub avps: Vec<Avp>,
    /// Commands.
    pub commands: Vec<Command>,
    /// Applications.
    pub applications: Vec<Application>,
    /// Result codes.
    pub result_codes: Vec<ResultCode>,
}

impl Model {
    /// The AVP with this name.
    pub fn avp_by_name(&self, name: &str) -> Option<&Avp> {
        self.avps.iter().find(|a| a.name == name)
    }
}
