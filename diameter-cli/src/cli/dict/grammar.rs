//! Grammars and flags in RFC 6733 §3.2 notation.

use diameter_core::dictionary::{EntryKind, Grammar, GrammarEntry};

/// One grammar entry, such as `< Session-Id >`, `{ Origin-Host }` or `*[ Proxy-Info ]`.
pub fn entry(e: &GrammarEntry) -> String {
    let (open, close) = match e.kind {
        EntryKind::Fixed => ("<", ">"),
        EntryKind::Required => ("{", "}"),
        EntryKind::Optional => ("[", "]"),
    };
    let default_min = u32::from(e.kind != EntryKind::Optional);
    let qual = match (e.min, e.max) {
        (min, Some(1)) if min == default_min => String::new(),
        (min, None) if min == default_min && min == 0 => "*".into(),
        (min, None) => format!("{min}*"),
        (min, Some(max)) if min == default_min && min == 0 => format!("*{max}"),
        (min, Some(max)) => format!("{min}*{max}"),
    };
    format!("{qual}{open} {} {close}", e.name)
}

/// The whole grammar, one entry per line, indented.
pub fn lines(g: &Grammar, indent: &str) -> Vec<String> {
    let mut out: Vec<String> = g
        .entries
        .iter()
        .map(|e| format!("{indent}{}", entry(e)))
        .collect();
    if g.any {
        out.push(format!("{indent}*[ AVP ]"));
    }
    out
}

/// Flag letters (`V`, `M`, `P`) set in a mask, or `-`.
pub fn flag_letters(mask: u8) -> String {
    let s: String = [(0x80u8, 'V'), (0x40, 'M'), (0x20, 'P')]
        .iter()
        .filter(|(b, _)| mask & b != 0)
        .map(|(_, c)| *c)
        .collect();
    if s.is_empty() {
        "-".into()
    } else {
        s
    }
}
