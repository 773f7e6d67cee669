//! Static descriptions of dictionaries, emitted by the code generator beside the typed code.
//!
//! Typed decoding never looks here; these tables serve tools that show or build messages by
//! name (the `diameter decode`, `dict` and `send` commands) and relays that only need names.

/// The data type of an AVP (RFC 6733 §4.2, §4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataType {
    /// OctetString.
    OctetString,
    /// Integer32.
    Integer32,
    /// Integer64.
    Integer64,
    /// Unsigned32.
    Unsigned32,
    /// Unsigned64.
    Unsigned64,
    /// Float32.
    Float32,
    /// Float64.
    Float64,
    /// Grouped.
    Grouped,
    /// Address.
    Address,
    /// Time.
    Time,
    /// UTF8String.
    Utf8String,
    /// DiameterIdentity.
    DiameterIdentity,
    /// DiameterURI.
    DiameterUri,
    /// Enumerated.
    Enumerated,
    /// IPFilterRule.
    IpFilterRule,
    /// QoSFilterRule.
    QosFilterRule,
}

impl DataType {
    /// Every data type.
    pub const ALL: [DataType; 16] = [
        DataType::OctetString,
        DataType::Integer32,
        DataType::Integer64,
        DataType::Unsigned32,
        DataType::Unsigned64,
        DataType::Float32,
        DataType::Float64,
        DataType::Grouped,
        DataType::Address,
        DataType::Time,
        DataType::Utf8String,
        DataType::DiameterIdentity,
        DataType::DiameterUri,
        DataType::Enumerated,
        DataType::IpFilterRule,
        DataType::QosFilterRule,
    ];

    /// The type with this dictionary name (`UTF8String`, `DiameterURI`, ...).
    pub fn from_name(name: &str) -> Option<DataType> {
        DataType::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The name used in dictionaries and RFCs.
    pub fn name(self) -> &'static str {
        match self {
            DataType::OctetString => "OctetString",
            DataType::Integer32 => "Integer32",
            DataType::Integer64 => "Integer64",
            DataType::Unsigned32 => "Unsigned32",
            DataType::Unsigned64 => "Unsigned64",
            DataType::Float32 => "Float32",
            DataType::Float64 => "Float64",
            DataType::Grouped => "Grouped",
            DataType::Address => "Address",
            DataType::Time => "Time",
            DataType::Utf8String => "UTF8String",
            DataType::DiameterIdentity => "DiameterIdentity",
            DataType::DiameterUri => "DiameterURI",
            DataType::Enumerated => "Enumerated",
            DataType::IpFilterRule => "IPFilterRule",
            DataType::QosFilterRule => "QoSFilterRule",
        }
    }
}

/// How a grammar entry is written in RFC 6733 §3.2 notation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// `< AVP >`: fixed position.
    Fixed,
    /// `{ AVP }`: required.
    Required,
    /// `[ AVP ]`: optional.
    Optional,
}

/// One entry of a command or grouped grammar.
#[derive(Clone, Copy, Debug)]
pub struct GrammarEntry {
    /// AVP name.
    pub name: &'static str,
    /// AVP code.
    pub code: u32,
    /// Vendor-Id, 0 for none.
    pub vendor: u32,
    /// Fixed, required or optional.
    pub kind: EntryKind,
    /// Fewest occurrences.
    pub min: u32,
    /// Most occurrences; `None` is unbounded.
    pub max: Option<u32>,
}

/// A grammar: its entries and whether `*[ AVP ]` closes it.
#[derive(Clone, Copy, Debug)]
pub struct Grammar {
    /// The named entries, in order.
    pub entries: &'static [GrammarEntry],
    /// Whether other AVPs are allowed.
    pub any: bool,
}

/// An AVP definition.
#[derive(Clone, Copy, Debug)]
pub struct AvpInfo {
    /// AVP name, such as `Session-Id`.
    pub name: &'static str,
    /// AVP code.
    pub code: u32,
    /// Vendor-Id, 0 for none.
    pub vendor: u32,
    /// Data type.
    pub data_type: DataType,
    /// Flags that must be set (M, V, P bits as on the wire).
    pub must: u8,
    /// Flags that may be set.
    pub may: u8,
    /// Named values of an Enumerated AVP.
    pub enums: &'static [(i32, &'static str)],
    /// Grammar of a Grouped AVP.
    pub grouped: Option<Grammar>,
    /// The dictionary module that defines it.
    pub dictionary: &'static str,
    /// The specification and section.
    pub spec: &'static str,
}

impl AvpInfo {
    /// The name of an enumerated value.
    pub fn enum_name(&self, value: i32) -> Option<&'static str> {
        self.enums
            .iter()
            .find(|(v, _)| *v == value)
            .map(|(_, n)| *n)
    }
}

/// A command definition (request and answer).
#[derive(Clone, Copy, Debug)]
pub struct CommandInfo {
    /// Command name, such as `Credit-Control`.
    pub name: &'static str,
    /// Abbreviation stem, such as `CC` (CCR/CCA).
    pub short: &'static str,
    /// Command code.
    pub code: u32,
    /// Application-Id of the application that defines it.
    pub application_id: u32,
    /// Whether the P bit is set.
    pub proxiable: bool,
    /// Request grammar.
    pub request: Grammar,
    /// Answer grammar.
    pub answer: Grammar,
    /// The dictionary module that defines it.
    pub dictionary: &'static str,
    /// The specification and section.
    pub spec: &'static str,
}

/// An application definition.
#[derive(Clone, Copy, Debug)]
pub struct ApplicationInfo {
    /// Application name.
    pub name: &'static str,
    /// Application-Id.
    pub id: u32,
    /// Whether it is an accounting application (else authentication/authorization).
    pub accounting: bool,
    /// Vendor-Id for a vendor-specific application, else 0.
    pub vendor: u32,
    /// The dictionary module that defines it.
    pub dictionary: &'static str,
}

/// A named Result-Code.
#[derive(Clone, Copy, Debug)]
pub struct ResultCodeInfo {
    /// Name, such as `DIAMETER_SUCCESS`.
    pub name: &'static str,
    /// Value.
    pub value: u32,
    /// The dictionary module that defines it.
    pub dictionary: &'static str,
}

/// Everything the code generator compiled, for look-ups by name or code.
#[derive(Clone, Copy, Debug)]
pub struct Dictionary {
    /// All AVPs, sorted by (vendor, code).
    pub avps: &'static [AvpInfo],
    /// All commands.
    pub commands: &'static [CommandInfo],
    /// All applications.
    pub applications: &'static [ApplicationInfo],
    /// All result codes.
    pub result_codes: &'static [ResultCodeInfo],
}

impl Dictionary {
    /// The AVP with this code and vendor.
    pub fn avp(&self, code: u32, vendor: u32) -> Option<&'static AvpInfo> {
        let i = self
            .avps
            .binary_search_by_key(&(vendor, code), |a| (a.vendor, a.code))
            .ok()?;
        Some(&self.avps[i])
    }
    /// The AVP with this name (ASCII case-insensitive).
    pub fn avp_by_name(&self, name: &str) -> Option<&'static AvpInfo> {
        self.avps.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }
    /// The command with this code, preferring the given application.
    pub fn command(&self, code: u32, application_id: u32) -> Option<&'static CommandInfo> {
        let mut matching = self.commands.iter().filter(|c| c.code == code);
        let first = matching.clone().next();
        matching
            .find(|c| c.application_id == application_id)
            .or(first)
    }
    /// The command whose name or abbreviation (`CC`, `CCR`, `CCA`) matches.
    pub fn command_by_name(&self, name: &str) -> Option<&'static CommandInfo> {
        let n = name.to_ascii_uppercase();
        self.commands.iter().find(|c| {
            c.name.eq_ignore_ascii_case(name)
                || c.short == n
                || format!("{}R", c.short) == n
                || format!("{}A", c.short) == n
        })
    }
    /// The name of a Result-Code.
    pub fn result_code_name(&self, value: u32) -> Option<&'static str> {
        self.result_codes
            .iter()
            .find(|r| r.value == value)
            .map(|r| r.name)
    }
}
