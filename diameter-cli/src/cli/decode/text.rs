//! The indented text tree, in the manner of `tshark -V`.

use super::tree::{AvpNode, MessageNode, Problem};
use super::value::{printable, Value};
use super::Source;
use crate::cli::hexin;
use crate::cli::style::{Role, Style};
use diameter_core::avp::AvpFlags;
use diameter_core::CommandFlags;
use std::fmt::Write;

/// Longest payload shown in full; longer ones are cut with their length.
const MAX_HEX: usize = 64;

/// Renders one message with its source line (for packets) as text.
pub fn render(msg: &MessageNode, source: &Source, style: &Style) -> String {
    let mut out = String::new();
    if let Some(line) = source.describe() {
        let _ = writeln!(out, "{}", style.paint(Role::Heading, &line));
    }
    let h = &msg.header;
    let (name, abbrev) = match msg.command {
        Some(c) => {
            let kind = if h.is_request() { "Request" } else { "Answer" };
            let letter = if h.is_request() { 'R' } else { 'A' };
            (
                format!("{}-{kind}", c.name),
                format!(" ({}{letter})", c.short),
            )
        }
        None => (
            format!(
                "Unknown {}",
                if h.is_request() { "request" } else { "answer" }
            ),
            String::new(),
        ),
    };
    let app = msg
        .dictionary
        .applications
        .iter()
        .find(|a| a.id == h.application_id)
        .map(|a| format!(" ({})", a.name))
        .unwrap_or_default();
    let _ = writeln!(out, "Diameter {}{abbrev}", style.paint(Role::Name, &name));
    let _ = writeln!(out, "    Version: {}", h.version);
    let _ = writeln!(out, "    Length: {}", h.length);
    let _ = writeln!(out, "    Flags: {:#04x}{}", h.flags, command_flags(h.flags));
    let _ = writeln!(out, "    Command Code: {}", h.command_code);
    let _ = writeln!(out, "    Application-Id: {}{app}", h.application_id);
    let _ = writeln!(out, "    Hop-by-Hop Identifier: {:#010x}", h.hop_by_hop);
    let _ = writeln!(out, "    End-to-End Identifier: {:#010x}", h.end_to_end);
    avps(&mut out, &msg.avps, 1, style);
    if let Some(p) = &msg.error {
        problem(&mut out, p, 1, style);
    }
    out
}

fn command_flags(flags: u8) -> String {
    let names: Vec<&str> = [
        (CommandFlags::REQUEST, "Request"),
        (CommandFlags::PROXIABLE, "Proxiable"),
        (CommandFlags::ERROR, "Error"),
        (CommandFlags::RETRANSMIT, "Retransmit"),
    ]
    .iter()
    .filter(|(bit, _)| flags & bit != 0)
    .map(|(_, n)| *n)
    .collect();
    if names.is_empty() {
        String::new()
    } else {
        format!(" ({})", names.join(", "))
    }
}

/// The AVP flags as `VMP` letters with `-` for clear bits.
pub fn avp_flags(flags: u8) -> String {
    [
        (AvpFlags::VENDOR, 'V'),
        (AvpFlags::MANDATORY, 'M'),
        (AvpFlags::PROTECTED, 'P'),
    ]
    .iter()
    .map(|(bit, c)| if flags & bit != 0 { *c } else { '-' })
    .collect()
}

fn avps(out: &mut String, nodes: &[AvpNode], depth: usize, style: &Style) {
    for n in nodes {
        avp(out, n, depth, style);
    }
}

fn avp(out: &mut String, n: &AvpNode, depth: usize, style: &Style) {
    let pad = "    ".repeat(depth);
    let name = n.info.map(|i| i.name).unwrap_or("Unknown AVP");
    let vendor = if n.vendor != 0 {
        format!(" vnd={}", n.vendor)
    } else {
        String::new()
    };
    let head = format!(
        "{pad}AVP: {} {}",
        style.paint(Role::Name, name),
        style.paint(
            Role::Dim,
            &format!(
                "({}){vendor} l={} f={}",
                n.code,
                n.length,
                avp_flags(n.flags)
            )
        )
    );
    match &n.value {
        Value::Grouped { children, error } => {
            let _ = writeln!(out, "{head}");
            avps(out, children, depth + 1, style);
            if let Some(p) = error {
                problem(out, p, depth + 1, style);
            }
        }
        Value::Invalid { reason, raw } => {
            let _ = writeln!(
                out,
                "{head}: {} {}",
                style.paint(Role::Error, &format!("!! {reason}")),
                hex(raw)
            );
        }
        v => {
            let _ = writeln!(out, "{head}: {}", style.paint(Role::Value, &leaf(v)));
        }
    }
}

fn problem(out: &mut String, p: &Problem, depth: usize, style: &Style) {
    let pad = "    ".repeat(depth);
    let _ = writeln!(
        out,
        "{pad}{}",
        style.paint(Role::Error, &format!("!! malformed: {p}"))
    );
}

/// A leaf value as text.
pub fn leaf(v: &Value) -> String {
    match v {
        Value::Unsigned(n, Some(name)) => format!("{n} ({name})"),
        Value::Unsigned(n, None) => n.to_string(),
        Value::Signed(n) => n.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Enum(n, Some(name)) => format!("{name} ({n})"),
        Value::Enum(n, None) => format!("{n} (unknown value)"),
        Value::Text(s) => format!("{s:?}"),
        Value::Address(a) => a.clone(),
        Value::Time { ntp, unix } => format!("{} (NTP {ntp})", Value::utc(*unix)),
        Value::Octets(b) => match printable(b) {
            Some(t) => format!("{} ({t:?})", hex(b)),
            None => hex(b),
        },
        Value::Raw(b) => format!("raw {}", hex(b)),
        Value::Invalid { reason, raw } => format!("!! {reason} {}", hex(raw)),
        Value::Grouped { children, .. } => format!("{} AVPs", children.len()),
    }
}

fn hex(b: &[u8]) -> String {
    if b.is_empty() {
        "(empty)".into()
    } else if b.len() > MAX_HEX {
        format!("0x{}… ({} bytes)", hexin::encode(&b[..MAX_HEX]), b.len())
    } else {
        format!("0x{}", hexin::encode(b))
    }
}
