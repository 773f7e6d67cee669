//! Diameter names to Rust names, in one place (heck), with keywords and leading digits escaped.

use heck::{ToShoutySnakeCase, ToSnakeCase, ToUpperCamelCase};

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use",
    "where", "while", "abstract", "become", "box", "do", "final", "macro", "override", "priv",
    "typeof", "unsized", "virtual", "yield", "try", "gen",
];

/// Spells a leading `3GPP` as `Tgpp` and any other leading digit with an `N` prefix, and
/// folds mixed-case words (`QoS`, `AoC`, `IPv6`) to one capital so heck keeps them whole.
fn lead(name: &str) -> String {
    let words: Vec<String> = name
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(fold_mixed_case)
        .collect();
    let cleaned = words.join("-");
    if let Some(rest) = cleaned.strip_prefix("3GPP") {
        format!("TGPP{rest}")
    } else if cleaned.starts_with(|c: char| c.is_ascii_digit()) {
        format!("N{cleaned}")
    } else {
        cleaned
    }
}

/// `QoS` → `Qos`; `Session`, `SESSION` and `session` are left alone.
fn fold_mixed_case(word: &str) -> String {
    let rest = &word[1..];
    let has_lower = word.chars().any(|c| c.is_ascii_lowercase());
    let rest_has_upper = rest.chars().any(|c| c.is_ascii_uppercase());
    if has_lower && rest_has_upper {
        let mut out = word[..1].to_ascii_uppercase();
        out.push_str(&rest.to_ascii_lowercase());
        out
    } else {
        word.to_string()
    }
}

/// `Multiple-Services-Credit-Control` → `MultipleServicesCreditControl`.
pub fn type_name(name: &str) -> String {
    lead(name).to_upper_camel_case()
}

/// `Multiple-Services-Credit-Control` → `multiple_services_credit_control`.
pub fn field(name: &str) -> String {
    let f = lead(name).to_snake_case();
    if KEYWORDS.contains(&f.as_str()) {
        format!("r#{f}")
    } else {
        f
    }
}

/// `Multiple-Services-Credit-Control` → `MULTIPLE_SERVICES_CREDIT_CONTROL`.
pub fn constant(name: &str) -> String {
    lead(name).to_shouty_snake_case()
}

/// `DO_NOT_WANT_TO_TALK_TO_YOU` → `DoNotWantToTalkToYou`.
pub fn variant(name: &str) -> String {
    let v = lead(name).to_upper_camel_case();
    if v == "Unrecognized" || v == "Self" {
        format!("{v}Value")
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            type_name("Multiple-Services-Credit-Control"),
            "MultipleServicesCreditControl"
        );
        assert_eq!(
            field("Multiple-Services-Credit-Control"),
            "multiple_services_credit_control"
        );
        assert_eq!(constant("CC-Request-Type"), "CC_REQUEST_TYPE");
        assert_eq!(type_name("3GPP-Charging-Id"), "TgppChargingId");
        assert_eq!(field("3GPP-Charging-Id"), "tgpp_charging_id");
        assert_eq!(field("Type"), "r#type");
        assert_eq!(variant("IPv4 Address"), "Ipv4Address");
        assert_eq!(field("QoS-Information"), "qos_information");
        assert_eq!(field("AoC-Request-Type"), "aoc_request_type");
        assert_eq!(variant("TOTAL-OCTETS"), "TotalOctets");
    }
}
