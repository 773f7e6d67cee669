//! One base protocol: every code the runtime writes by hand (`diameter-core/src/base.rs`,
//! `result_code.rs`, the M flag of `fields.rs`, `base::DisconnectCause`) equals the
//! generated `base_rfc6733` dictionary's. The constants are read from the source text, so a
//! constant added there later is checked too.

use diameter::core::dictionary::{AvpInfo, DataType};
use diameter::dict::{base_rfc6733, DICTIONARY};

const BASE_RS: &str = include_str!("../diameter-core/src/base.rs");
const CAPABILITIES_RS: &str = include_str!("../diameter-core/src/peer/capabilities.rs");
const ANSWER_RS: &str = include_str!("../diameter-core/src/answer.rs");
const RESULT_CODE_RS: &str = include_str!("../diameter-core/src/result_code.rs");

/// `(module, doc line before it, NAME, value)` of every `pub const NAME: u32 = VALUE;`.
fn constants(src: &str) -> Vec<(String, String, String, u32)> {
    let mut out = Vec::new();
    let (mut module, mut doc) = (String::new(), String::new());
    for line in src.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("pub mod ") {
            module = rest.trim_end_matches(" {").to_string();
        } else if let Some(d) = line.strip_prefix("///") {
            doc = d.trim().to_string();
        } else if let Some(rest) = line.strip_prefix("pub const ") {
            let (name, value) = rest.split_once(": u32 = ").expect("u32 constant");
            let value = value.trim_end_matches(';').replace('_', "");
            let value = match value.strip_prefix("0x") {
                Some(hex) => u32::from_str_radix(hex, 16).unwrap(),
                None => value.parse().unwrap(),
            };
            out.push((module.clone(), doc.clone(), name.to_string(), value));
        }
    }
    out
}

fn constant_name(dictionary_name: &str) -> String {
    dictionary_name.to_uppercase().replace('-', "_")
}

fn base_avp(name: &str) -> &'static AvpInfo {
    DICTIONARY
        .avps
        .iter()
        .find(|a| a.dictionary == "base_rfc6733" && constant_name(a.name) == name)
        .unwrap_or_else(|| panic!("base.rs avp::{name} is not an AVP of base_rfc6733"))
}

#[test]
fn hand_written_avp_codes_names_types_and_flags_match_the_dictionary() {
    let avps: Vec<_> = constants(BASE_RS)
        .into_iter()
        .filter(|c| c.0 == "avp")
        .collect();
    assert!(avps.len() >= 25, "read {} AVP constants", avps.len());
    for (_, doc, name, code) in avps {
        let info = base_avp(&name);
        assert_eq!((info.code, info.vendor), (code, 0), "avp::{name}");
        // The doc comment says `Name (Type).`
        let expected = format!("{} ({}).", info.name, info.data_type.name());
        assert_eq!(doc, expected, "avp::{name}");
        // fields.rs writes base AVPs with M and without V: the dictionary must agree, or
        // (Firmware-Revision, M "must not") the runtime must clear the flag where it writes it.
        assert_eq!(info.must & 0x80, 0, "avp::{name} has no V");
        if info.must & 0x40 == 0 {
            let clears = CAPABILITIES_RS
                .split(&format!("avp::{name},"))
                .skip(1)
                .all(|after| {
                    after
                        .lines()
                        .nth(1)
                        .is_some_and(|l| l.contains(".flags = 0"))
                });
            let written_without_m = (CAPABILITIES_RS.contains(&format!("avp::{name},")) && clears)
                || ANSWER_RS.contains(&format!("({name}, 0,"));
            assert!(
                written_without_m,
                "avp::{name}: the dictionary says no M, but the runtime writes it with M"
            );
        }
    }
}

/// answer.rs keeps its own AVP codes and writes each with `m` (M set) or `0`.
#[test]
fn answer_rs_codes_and_flags_match_the_dictionary() {
    let mut checked = 0;
    for line in ANSWER_RS.lines() {
        let Some(rest) = line.strip_prefix("const ") else {
            continue;
        };
        let Some((name, value)) = rest.split_once(": u32 = ") else {
            continue;
        };
        let info = base_avp(name);
        assert_eq!(
            info.code,
            value.trim_end_matches(';').parse::<u32>().unwrap(),
            "{name}"
        );
        let mandatory = info.must & 0x40 != 0;
        for (flags, needs_m) in [("m", true), ("0", false)] {
            if ANSWER_RS.contains(&format!("({name}, {flags},")) {
                assert_eq!(
                    mandatory, needs_m,
                    "answer.rs writes {name} with flags {flags}"
                );
            }
        }
        checked += 1;
    }
    assert!(checked >= 8, "read {checked} constants of answer.rs");
}

#[test]
fn hand_written_command_and_application_codes_match_the_dictionary() {
    let consts = constants(BASE_RS);
    let commands: Vec<_> = consts.iter().filter(|c| c.0 == "command").collect();
    assert_eq!(commands.len(), 3);
    for (_, _, name, code) in commands {
        let c = DICTIONARY
            .commands
            .iter()
            .find(|c| c.dictionary == "base_rfc6733" && constant_name(c.name) == *name)
            .unwrap_or_else(|| panic!("command::{name} is not a base command"));
        assert_eq!(c.code, *code, "command::{name}");
        assert_eq!(c.application_id, 0, "command::{name}");
        // CER, DWR and DPR are never proxied; the peer state machine sends them without P.
        assert!(!c.proxiable, "command::{name}");
        assert_eq!(
            constant_name(c.name),
            *name,
            "generated base_rfc6733::command has it under the same name"
        );
    }
    assert_eq!(
        diameter::core::base::command::CAPABILITIES_EXCHANGE,
        base_rfc6733::command::CAPABILITIES_EXCHANGE
    );
    let apps: Vec<_> = consts.iter().filter(|c| c.0 == "app").collect();
    assert_eq!(apps.len(), 2);
    assert_eq!(diameter::core::base::app::COMMON, 0);
    assert_eq!(diameter::core::base::app::RELAY, 0xffff_ffff);
    let security: Vec<_> = consts.iter().filter(|c| c.0 == "inband_security").collect();
    let inband = base_avp("INBAND_SECURITY_ID");
    assert_eq!(inband.data_type, DataType::Unsigned32);
    assert_eq!(security.len(), 2);
}

#[test]
fn hand_written_result_codes_match_the_dictionary() {
    let codes = constants(RESULT_CODE_RS);
    assert!(codes.len() >= 20, "read {}", codes.len());
    for (_, doc, name, value) in codes {
        let r = DICTIONARY
            .result_codes
            .iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("result code {name} is not in the dictionaries"));
        assert_eq!(r.value, value, "{name}");
        assert_eq!(r.dictionary, "base_rfc6733", "{name}");
        assert!(doc.starts_with(&format!("{value}:")), "{name}: doc `{doc}`");
    }
}

#[test]
fn disconnect_cause_matches_the_dictionary() {
    use diameter::core::base::DisconnectCause as Core;
    let info = base_avp("DISCONNECT_CAUSE");
    assert_eq!(info.data_type, DataType::Enumerated);
    let core = [
        (Core::Rebooting, "REBOOTING"),
        (Core::Busy, "BUSY"),
        (Core::DoNotWantToTalkToYou, "DO_NOT_WANT_TO_TALK_TO_YOU"),
    ];
    assert_eq!(info.enums.len(), core.len(), "{:?}", info.enums);
    for (cause, name) in core {
        assert!(
            info.enums.contains(&(cause.code(), name)),
            "{name} = {} not in {:?}",
            cause.code(),
            info.enums
        );
        let generated = base_rfc6733::DisconnectCause::from_value(cause.code());
        assert_eq!(generated.value(), cause.code());
        assert_eq!(Core::from_code(generated.value()), cause);
    }
}
