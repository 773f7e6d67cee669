//! Printing dictionary entries as text or JSON.

use super::grammar::{entry, flag_letters, lines};
use crate::cli::style::{Role, Style};
use diameter::dict::DICTIONARY;
use diameter_core::dictionary::{ApplicationInfo, AvpInfo, CommandInfo, Grammar, ResultCodeInfo};
use serde_json::{json, Value as Json};
use std::fmt::Write;

fn pretty(v: Json) -> String {
    serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
}

fn app_name(id: u32) -> &'static str {
    DICTIONARY
        .applications
        .iter()
        .find(|a| a.id == id)
        .map(|a| a.name)
        .unwrap_or("unknown application")
}

fn grammar_json(g: &Grammar) -> Json {
    json!({
        "entries": g.entries.iter().map(|e| json!({
            "name": e.name, "code": e.code, "vendor": e.vendor,
            "notation": entry(e), "min": e.min, "max": e.max,
        })).collect::<Vec<_>>(),
        "any": g.any,
    })
}

/// Where an AVP is used: command names (with R/A) and grouped AVP names.
pub fn used_in(a: &AvpInfo) -> Vec<String> {
    let has = |g: &Grammar| {
        g.entries
            .iter()
            .any(|e| e.code == a.code && e.vendor == a.vendor)
    };
    let mut out = Vec::new();
    for c in DICTIONARY.commands {
        if has(&c.request) {
            out.push(format!("{}R", c.short));
        }
        if has(&c.answer) {
            out.push(format!("{}A", c.short));
        }
    }
    for g in DICTIONARY.avps {
        if g.grouped.as_ref().is_some_and(has) {
            out.push(g.name.to_owned());
        }
    }
    out
}

/// AVP definitions.
pub fn avps(found: &[&AvpInfo], as_json: bool, style: &Style) -> String {
    if as_json {
        let items: Vec<Json> = found
            .iter()
            .map(|a| {
                json!({
                    "name": a.name, "code": a.code, "vendor": a.vendor,
                    "type": a.data_type.name(),
                    "must": flag_letters(a.must), "may": flag_letters(a.may),
                    "enums": a.enums.iter().map(|(v, n)| json!({"value": v, "name": n})).collect::<Vec<_>>(),
                    "grammar": a.grouped.as_ref().map(grammar_json),
                    "dictionary": a.dictionary, "spec": a.spec,
                    "used_in": used_in(a),
                })
            })
            .collect();
        return pretty(Json::Array(items));
    }
    let mut out = String::new();
    for (i, a) in found.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let _ = writeln!(out, "{}", style.paint(Role::Name, a.name));
        let _ = writeln!(out, "  Code:       {}", a.code);
        if a.vendor != 0 {
            let _ = writeln!(out, "  Vendor-Id:  {}", a.vendor);
        }
        let _ = writeln!(out, "  Type:       {}", a.data_type.name());
        let _ = writeln!(
            out,
            "  Flags:      must {}, may {}",
            flag_letters(a.must),
            flag_letters(a.may)
        );
        let _ = writeln!(out, "  Defined in: {} ({})", a.spec, a.dictionary);
        if !a.enums.is_empty() {
            let _ = writeln!(out, "  Values:");
            for (v, n) in a.enums {
                let _ = writeln!(out, "    {v:>10}  {n}");
            }
        }
        if let Some(g) = &a.grouped {
            let _ = writeln!(out, "  Grammar:");
            let _ = writeln!(out, "    {} ::= < AVP Header: {} >", a.name, code_of(a));
            for l in lines(g, "        ") {
                let _ = writeln!(out, "{l}");
            }
        }
        let used = used_in(a);
        if !used.is_empty() {
            let _ = writeln!(out, "  Used in:    {}", used.join(", "));
        }
    }
    out
}

fn code_of(a: &AvpInfo) -> String {
    if a.vendor != 0 {
        format!("{} {}", a.code, a.vendor)
    } else {
        a.code.to_string()
    }
}

/// Command definitions with both grammars.
pub fn commands(found: &[&CommandInfo], as_json: bool, style: &Style) -> String {
    if as_json {
        let items: Vec<Json> = found
            .iter()
            .map(|c| {
                json!({
                    "name": c.name, "short": c.short, "code": c.code,
                    "application_id": c.application_id, "proxiable": c.proxiable,
                    "request": grammar_json(&c.request), "answer": grammar_json(&c.answer),
                    "dictionary": c.dictionary, "spec": c.spec,
                })
            })
            .collect();
        return pretty(Json::Array(items));
    }
    let mut out = String::new();
    for (i, c) in found.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let _ = writeln!(
            out,
            "{} ({}R/{}A)",
            style.paint(Role::Name, c.name),
            c.short,
            c.short
        );
        let _ = writeln!(out, "  Code:        {}", c.code);
        let _ = writeln!(
            out,
            "  Application: {} ({})",
            c.application_id,
            app_name(c.application_id)
        );
        let _ = writeln!(
            out,
            "  Proxiable:   {}",
            if c.proxiable { "yes" } else { "no" }
        );
        let _ = writeln!(out, "  Defined in:  {} ({})", c.spec, c.dictionary);
        let pxy = if c.proxiable { ", PXY" } else { "" };
        for (letter, g, req) in [('R', &c.request, ", REQ"), ('A', &c.answer, "")] {
            let _ = writeln!(
                out,
                "\n  <{}{letter}> ::= < Diameter Header: {}{req}{pxy} >",
                c.short, c.code
            );
            for l in lines(g, "            ") {
                let _ = writeln!(out, "{l}");
            }
        }
    }
    out
}

/// Applications, with their commands when `with_commands`.
pub fn apps(
    found: &[&ApplicationInfo],
    with_commands: bool,
    as_json: bool,
    style: &Style,
) -> String {
    let cmds = |a: &ApplicationInfo| -> Vec<&'static CommandInfo> {
        DICTIONARY
            .commands
            .iter()
            .filter(|c| c.application_id == a.id)
            .collect()
    };
    if as_json {
        let items: Vec<Json> = found
            .iter()
            .map(|a| {
                json!({
                    "name": a.name, "id": a.id, "accounting": a.accounting,
                    "vendor": a.vendor, "dictionary": a.dictionary,
                    "commands": cmds(a).iter().map(|c| json!({"name": c.name, "short": c.short, "code": c.code})).collect::<Vec<_>>(),
                })
            })
            .collect();
        return pretty(Json::Array(items));
    }
    let mut out = String::new();
    for a in found {
        let kind = if a.accounting { "acct" } else { "auth" };
        let _ = writeln!(
            out,
            "{:>10}  {}  ({kind}, {})",
            a.id,
            style.paint(Role::Name, a.name),
            a.dictionary
        );
        if with_commands {
            for c in cmds(a) {
                let _ = writeln!(
                    out,
                    "{:>14}  {} ({}R/{}A)",
                    c.code, c.name, c.short, c.short
                );
            }
        }
    }
    out
}

/// Result-Codes.
pub fn result_codes(found: &[&ResultCodeInfo], as_json: bool, style: &Style) -> String {
    if as_json {
        let items: Vec<Json> = found
            .iter()
            .map(|r| json!({"name": r.name, "value": r.value, "dictionary": r.dictionary}))
            .collect();
        return pretty(Json::Array(items));
    }
    let mut out = String::new();
    for r in found {
        let _ = writeln!(
            out,
            "{:>5}  {}  ({})",
            r.value,
            style.paint(Role::Name, r.name),
            r.dictionary
        );
    }
    out
}

/// Everything whose name contains `text`; `None` when nothing does.
pub fn search(text: &str, as_json: bool, style: &Style) -> Option<String> {
    let k = text.to_ascii_lowercase();
    let m = |n: &str| n.to_ascii_lowercase().contains(&k);
    let avps: Vec<&AvpInfo> = DICTIONARY.avps.iter().filter(|a| m(a.name)).collect();
    let cmds: Vec<&CommandInfo> = DICTIONARY
        .commands
        .iter()
        .filter(|c| m(c.name) || m(c.short))
        .collect();
    let apps_found: Vec<&ApplicationInfo> = DICTIONARY
        .applications
        .iter()
        .filter(|a| m(a.name))
        .collect();
    let rcs: Vec<&ResultCodeInfo> = DICTIONARY
        .result_codes
        .iter()
        .filter(|r| m(r.name))
        .collect();
    if avps.is_empty() && cmds.is_empty() && apps_found.is_empty() && rcs.is_empty() {
        return None;
    }
    if as_json {
        return Some(pretty(json!({
            "avps": avps.iter().map(|a| json!({"name": a.name, "code": a.code, "vendor": a.vendor, "type": a.data_type.name()})).collect::<Vec<_>>(),
            "commands": cmds.iter().map(|c| json!({"name": c.name, "short": c.short, "code": c.code, "application_id": c.application_id})).collect::<Vec<_>>(),
            "applications": apps_found.iter().map(|a| json!({"name": a.name, "id": a.id})).collect::<Vec<_>>(),
            "result_codes": rcs.iter().map(|r| json!({"name": r.name, "value": r.value})).collect::<Vec<_>>(),
        })));
    }
    let mut out = String::new();
    if !avps.is_empty() {
        let _ = writeln!(out, "{}", style.paint(Role::Heading, "AVPs:"));
        for a in &avps {
            let code = if a.vendor != 0 {
                format!("{}:{}", a.vendor, a.code)
            } else {
                a.code.to_string()
            };
            let _ = writeln!(out, "  {code:>10}  {}  {}", a.name, a.data_type.name());
        }
    }
    if !cmds.is_empty() {
        let _ = writeln!(out, "{}", style.paint(Role::Heading, "Commands:"));
        for c in &cmds {
            let _ = writeln!(
                out,
                "  {:>10}  {} ({}R/{}A), application {}",
                c.code, c.name, c.short, c.short, c.application_id
            );
        }
    }
    if !apps_found.is_empty() {
        let _ = writeln!(out, "{}", style.paint(Role::Heading, "Applications:"));
        for a in &apps_found {
            let _ = writeln!(out, "  {:>10}  {}", a.id, a.name);
        }
    }
    if !rcs.is_empty() {
        let _ = writeln!(out, "{}", style.paint(Role::Heading, "Result-Codes:"));
        for r in &rcs {
            let _ = writeln!(out, "  {:>10}  {}", r.value, r.name);
        }
    }
    Some(out)
}
