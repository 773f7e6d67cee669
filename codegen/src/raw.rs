//! The raw tree: each dictionary as written in XML (plain data, names not yet resolved); read by [`load`](crate::load), checked by [`resolve`](crate::resolve).

use crate::diag::Span;

/// The AVP flag letters of `must` / `may`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    /// M: mandatory.
    pub m: bool,
    /// V: vendor-specific.
    pub v: bool,
    /// P: protected.
    pub p: bool,
}

impl Flags {
    /// The bits as on the wire.
    pub fn bits(self) -> u8 {
        (if self.v { 0x80 } else { 0 })
            | (if self.m { 0x40 } else { 0 })
            | (if self.p { 0x20 } else { 0 })
    }
}

/// One dictionary file.
#[derive(Clone, Debug, Default)]
pub struct Dictionary {
    /// Module name.
    pub name: String,
    /// Specification reference.
    pub spec: String,
    /// Link to the specification.
    pub href: String,
    /// Doc text.
    pub doc: String,
    /// Default vendor name for AVPs with `V` in `must`.
    pub default_vendor: Option<String>,
    /// Imported dictionary names.
    pub imports: Vec<(String, Span)>,
    /// Vendors.
    pub vendors: Vec<Vendor>,
    /// Derived types.
    pub typedefs: Vec<Typedef>,
    /// AVPs.
    pub avps: Vec<Avp>,
    /// Applications.
    pub applications: Vec<Application>,
    /// Result codes.
    pub result_codes: Vec<ResultCode>,
    /// Extensions of imported definitions.
    pub extends: Vec<Extend>,
    /// The root element.
    pub span: Span,
}

/// A vendor.
#[derive(Clone, Debug)]
pub struct Vendor {
    /// Vendor-Id.
    pub id: u32,
    /// Name.
    pub name: String,
    /// Position.
    pub span: Span,
}

/// A derived type.
#[derive(Clone, Debug)]
pub struct Typedef {
    /// Name.
    pub name: String,
    /// Base type name.
    pub base: String,
    /// Position.
    pub span: Span,
}

/// An AVP definition.
#[derive(Clone, Debug)]
pub struct Avp {
    /// Name.
    pub name: String,
    /// Code.
    pub code: u32,
    /// Type name as written.
    pub type_name: String,
    /// Flags that must be set.
    pub must: Flags,
    /// Flags that may be set.
    pub may: Flags,
    /// Vendor name, when given.
    pub vendor: Option<String>,
    /// Specification reference.
    pub spec: String,
    /// Release that added it.
    pub release: String,
    /// Whether it replaces an imported definition.
    pub overrides: bool,
    /// Whether a grouped AVP is stored behind a `Boxed` (a `Box`) where it occurs at most once
    /// (`boxed="true"`): for wide groups that most messages leave out.
    pub boxed: bool,
    /// Doc text.
    pub doc: String,
    /// Enumerated values.
    pub enums: Vec<EnumValue>,
    /// Grouped grammar.
    pub grouped: Option<Grammar>,
    /// Position.
    pub span: Span,
}

/// A value of an Enumerated AVP.
#[derive(Clone, Debug)]
pub struct EnumValue {
    /// Name.
    pub name: String,
    /// Value.
    pub value: i32,
    /// Doc text.
    pub doc: String,
    /// The dictionary that added it.
    pub origin: String,
    /// Position.
    pub span: Span,
}

/// `< >`, `{ }` or `[ ]` (the runtime's own enum).
pub use diameter_core::dictionary::EntryKind;

/// One grammar entry.
#[derive(Clone, Debug)]
pub struct Entry {
    /// AVP name.
    pub avp: String,
    /// Kind.
    pub kind: EntryKind,
    /// Fewest occurrences.
    pub min: u32,
    /// Most occurrences; `None` for unbounded.
    pub max: Option<u32>,
    /// Doc text.
    pub doc: String,
    /// The dictionary that added it (for entries added by `<extend>`).
    pub origin: String,
    /// Position.
    pub span: Span,
}

/// A grammar.
#[derive(Clone, Debug, Default)]
pub struct Grammar {
    /// Entries in order.
    pub entries: Vec<Entry>,
    /// Whether `*[ AVP ]` ends it.
    pub any: bool,
    /// Specification reference.
    pub spec: String,
    /// Position.
    pub span: Span,
}

/// An application.
#[derive(Clone, Debug)]
pub struct Application {
    /// Application-Id.
    pub id: u32,
    /// Name.
    pub name: String,
    /// Accounting (else auth).
    pub accounting: bool,
    /// Vendor name for vendor-specific applications.
    pub vendor: Option<String>,
    /// Specification reference.
    pub spec: String,
    /// Doc text.
    pub doc: String,
    /// Commands it defines.
    pub commands: Vec<Command>,
    /// Commands defined elsewhere that it uses.
    pub uses: Vec<(String, Span)>,
    /// Position.
    pub span: Span,
}

/// A command pair.
#[derive(Clone, Debug)]
pub struct Command {
    /// Code.
    pub code: u32,
    /// Name, e.g. `Credit-Control`.
    pub name: String,
    /// Abbreviation stem, e.g. `CC`.
    pub short: String,
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
    /// Position.
    pub span: Span,
}

/// A Result-Code constant.
#[derive(Clone, Debug)]
pub struct ResultCode {
    /// Name.
    pub name: String,
    /// Value.
    pub value: u32,
    /// Specification reference.
    pub spec: String,
    /// Doc text.
    pub doc: String,
    /// Position.
    pub span: Span,
}

/// What an `<extend>` adds to.
#[derive(Clone, Debug)]
pub enum ExtendTarget {
    /// An AVP, by name.
    Avp(String),
    /// A command, by name.
    Command(String),
}

/// Additions to an imported definition.
#[derive(Clone, Debug)]
pub struct Extend {
    /// The target.
    pub target: ExtendTarget,
    /// Enum values to add.
    pub enums: Vec<EnumValue>,
    /// Grouped entries to add.
    pub grouped: Option<Grammar>,
    /// Request entries to add.
    pub request: Option<Grammar>,
    /// Answer entries to add.
    pub answer: Option<Grammar>,
    /// Position.
    pub span: Span,
}
