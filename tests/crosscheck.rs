//! Cross-checks every AVP of `dictionaries/` against the reference data in `../shared/specs`
//! (Wireshark 4.0.17 dictionary, freeDiameter CSV tables, the AVP tables extracted from the
//! RFCs), and checks that every TS 32.299 AVP of the freeDiameter table is defined here.
//!
//! Every difference must be listed in `tests/crosscheck-allow.txt` with its reason and the
//! spec citation; a new difference, or an allow-list entry that no longer matches anything,
//! fails the test. Skipped (with a message) when `../shared/specs` is absent.
//!
//! Checks, per AVP of our dictionaries, keyed on (vendor, code):
//! * `type`: the data type of each source that has the AVP (normalised as in
//!   `avp-crosscheck.md` §2: Wireshark `IPAddress` = Address, `AppId`/`VendorId` = Unsigned32,
//!   `OctetStringOrUTF8` = OctetString, and Wireshark `Enumerated` also stands for the
//!   Integer32/Unsigned32 code fields it labels);
//! * `name`: the name, ignoring case, `-`/`_` and surrounding blanks;
//! * `flags`: the M and V "must" bits, against the RFC tables and the freeDiameter CSV only
//!   (Wireshark's flag attributes default to "may", so their absence is no fact);
//! * `code`: a source defines an AVP of the same name and vendor under another code;
//! * `missing`: Wireshark lacks the AVP (tshark would show it as unknown), or, for a
//!   vendor-specific AVP, the freeDiameter CSV lacks it;
//! * `unknown`: no source knows the AVP at all.
//!
//! Coverage: every row of the freeDiameter `3GPP TS 32.299` section and every row of
//! `extracted/rfc-avps.csv` is defined here (check `coverage`).

use diameter_codegen::checked::BaseType;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

const ALLOW_FILE: &str = "tests/crosscheck-allow.txt";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared/specs`, or `None` (with a message) when it is absent.
fn specs_dir() -> Option<PathBuf> {
    let dir = root().join("../shared/specs");
    if dir.join("wireshark-dictionary/dictionary.xml").is_file()
        && dir.join("freediameter-csv/dict_dcca_3gpp.csv").is_file()
    {
        Some(dir)
    } else {
        eprintln!(
            "skipped: ../shared/specs not found (looked for {}); the cross-check needs the \
             reference data of the development machine",
            dir.display()
        );
        None
    }
}

// ---------------------------------------------------------------------------------------
// Sources

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    /// `extracted/rfc-avps.csv` (RFC 6733, 4006, 8506, 4740 tables).
    Rfc,
    /// freeDiameter `dict_dcca_3gpp.csv` and `diameter-rfcs.csv`.
    Fd,
    /// Wireshark 4.0.17 `wireshark-dictionary/*.xml`.
    Ws,
}

impl Source {
    const ALL: [Source; 3] = [Source::Rfc, Source::Fd, Source::Ws];

    fn tag(self) -> &'static str {
        match self {
            Source::Rfc => "rfc",
            Source::Fd => "fd",
            Source::Ws => "ws",
        }
    }

    fn parse(s: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|x| x.tag() == s)
    }
}

/// One AVP row of a reference source.
#[derive(Clone, Debug)]
struct RefAvp {
    name: String,
    /// Type name as the source writes it.
    ty: String,
    /// M and V "must" bits, when the source states flags.
    must: Option<(bool, bool)>,
    /// Where it comes from (file or spec section), for messages.
    origin: String,
}

type Table = BTreeMap<(u32, u32), Vec<RefAvp>>;

/// Splits one CSV line (double quotes, `""` escapes; no multi-line fields in these files).
fn csv_fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn flags_of(cell: &str) -> (bool, bool) {
    (cell.contains('M'), cell.contains('V'))
}

/// A freeDiameter CSV: `@vendor,N` and `@standard,X` set the vendor and spec of later rows;
/// `#` rows are comments; columns are name, code, section, type, MUST, MAY, SHOULD NOT, MUST NOT.
/// Returns the table and, per `@standard` section, its (vendor, code) keys in file order.
fn load_fd_csv(path: &Path, table: &mut Table) -> BTreeMap<String, Vec<(u32, u32)>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file = path.file_name().unwrap().to_string_lossy().into_owned();
    let mut sections: BTreeMap<String, Vec<(u32, u32)>> = BTreeMap::new();
    let mut vendor = 0;
    let mut standard = String::new();
    for (n, line) in text.lines().enumerate() {
        let f = csv_fields(line);
        let first = f[0].trim();
        if first.is_empty() || first.starts_with('#') || n == 0 {
            continue;
        }
        match first {
            "@vendor" => vendor = f[1].trim().parse().expect("@vendor id"),
            "@standard" => standard = f[1].trim().to_string(),
            _ => {
                assert!(f.len() >= 5, "{file}:{}: short row", n + 1);
                let code: u32 = f[1]
                    .trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("{file}:{}: bad code {:?}", n + 1, f[1]));
                table.entry((vendor, code)).or_default().push(RefAvp {
                    name: first.to_string(),
                    ty: f[3].trim().to_string(),
                    must: Some(flags_of(&f[4])),
                    origin: format!("{file} [{standard}]"),
                });
                sections
                    .entry(standard.clone())
                    .or_default()
                    .push((vendor, code));
            }
        }
    }
    sections
}

/// `extracted/rfc-avps.csv`; returns the table and the list of (spec, vendor, code) rows.
fn load_rfc_csv(path: &Path, table: &mut Table) -> Vec<(String, u32, u32)> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header = csv_fields(lines.next().expect("header"));
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("rfc-avps.csv has no column {name}"))
    };
    let (spec, name, code, vendor, ty, must) = (
        col("spec"),
        col("avp_name"),
        col("avp_code"),
        col("vendor_id"),
        col("data_type"),
        col("flag_must"),
    );
    let mut rows = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let f = csv_fields(line);
        let key: (u32, u32) = (f[vendor].parse().unwrap(), f[code].parse().unwrap());
        table.entry(key).or_default().push(RefAvp {
            name: f[name].clone(),
            ty: f[ty].clone(),
            must: Some(flags_of(&f[must])),
            origin: format!("rfc-avps.csv [{}]", f[spec]),
        });
        rows.push((f[spec].clone(), key.0, key.1));
    }
    rows
}

/// `name="value"` attributes of one start tag's text.
fn attrs(tag: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = tag;
    while let Some(eq) = rest.find("=\"") {
        let name = rest[..eq]
            .rsplit(|c: char| c.is_whitespace())
            .next()
            .unwrap_or("")
            .to_string();
        let after = &rest[eq + 2..];
        let end = after.find('"').expect("closing quote");
        out.insert(name, after[..end].to_string());
        rest = &after[end + 1..];
    }
    out
}

/// Removes `<!-- ... -->` comments.
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<!--") {
        out.push_str(&rest[..start]);
        match rest[start..].find("-->") {
            Some(end) => rest = &rest[start + end + 3..],
            None => return out,
        }
    }
    out.push_str(rest);
    out
}

/// Every `*.xml` of Wireshark's dictionary folder, each file parsed on its own (the entity
/// includes of `dictionary.xml` name the same files). `vendor-id` names resolve through the
/// `<vendor vendor-id code>` elements; no `vendor-id` means vendor 0.
fn load_wireshark(dir: &Path, table: &mut Table) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .collect();
    files.sort();
    let mut vendors: BTreeMap<String, u32> = BTreeMap::new();
    let mut avps: Vec<(String, BTreeMap<String, String>, String)> = Vec::new();
    for path in &files {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let raw = std::fs::read(path).unwrap();
        let text = strip_comments(&String::from_utf8_lossy(&raw));
        let mut rest = text.as_str();
        while let Some(start) = rest.find('<') {
            rest = &rest[start + 1..];
            let end = rest.find('>').expect("tag end");
            let tag = &rest[..end];
            if let Some(t) = tag.strip_prefix("vendor ") {
                let a = attrs(t);
                if let (Some(id), Some(code)) = (a.get("vendor-id"), a.get("code")) {
                    vendors.insert(id.clone(), code.parse().expect("vendor code"));
                }
            } else if let Some(t) = tag.strip_prefix("avp ") {
                let a = attrs(t);
                let body_end = rest.find("</avp>").expect("</avp>");
                let body = &rest[end..body_end];
                let ty = if let Some(p) = body.find("<type ") {
                    attrs(&body[p + 6..p + body[p..].find('>').unwrap()])
                        .get("type-name")
                        .cloned()
                        .unwrap_or_default()
                } else if body.contains("<grouped") {
                    "Grouped".to_string()
                } else {
                    String::new()
                };
                avps.push((file.clone(), a, ty));
                rest = &rest[body_end..];
                continue;
            }
            rest = &rest[end..];
        }
    }
    for (file, a, ty) in avps {
        let vendor = match a.get("vendor-id").map(String::as_str) {
            None | Some("None") => 0,
            Some(id) => *vendors
                .get(id)
                .unwrap_or_else(|| panic!("{file}: unknown vendor-id {id}")),
        };
        let code: u32 = a["code"].parse().expect("avp code");
        table.entry((vendor, code)).or_default().push(RefAvp {
            name: a["name"].clone(),
            ty,
            must: None,
            origin: file,
        });
    }
}

struct Refs {
    tables: BTreeMap<Source, Table>,
    /// freeDiameter rows per `@standard` section.
    fd_sections: BTreeMap<String, Vec<(u32, u32)>>,
    /// `extracted/rfc-avps.csv` rows.
    rfc_rows: Vec<(String, u32, u32)>,
}

fn load_refs(specs: &Path) -> Refs {
    let mut rfc = Table::new();
    let rfc_rows = load_rfc_csv(&specs.join("extracted/rfc-avps.csv"), &mut rfc);
    let mut fd = Table::new();
    let mut fd_sections = load_fd_csv(&specs.join("freediameter-csv/dict_dcca_3gpp.csv"), &mut fd);
    fd_sections.extend(load_fd_csv(
        &specs.join("freediameter-csv/diameter-rfcs.csv"),
        &mut fd,
    ));
    let mut ws = Table::new();
    load_wireshark(&specs.join("wireshark-dictionary"), &mut ws);
    assert!(rfc.len() >= 143, "rfc-avps.csv: only {} AVPs", rfc.len());
    assert!(fd.len() > 1500, "freeDiameter CSVs: only {} AVPs", fd.len());
    assert!(
        ws.len() > 2500,
        "Wireshark dictionary: only {} AVPs",
        ws.len()
    );
    let tables = BTreeMap::from([(Source::Rfc, rfc), (Source::Fd, fd), (Source::Ws, ws)]);
    Refs {
        tables,
        fd_sections,
        rfc_rows,
    }
}

// ---------------------------------------------------------------------------------------
// Our dictionaries

struct Ours {
    name: String,
    vendor: u32,
    code: u32,
    ty: &'static str,
    must_m: bool,
    must_v: bool,
    module: String,
}

fn type_name(t: BaseType) -> &'static str {
    match t {
        BaseType::OctetString => "OctetString",
        BaseType::Integer32 => "Integer32",
        BaseType::Integer64 => "Integer64",
        BaseType::Unsigned32 => "Unsigned32",
        BaseType::Unsigned64 => "Unsigned64",
        BaseType::Float32 => "Float32",
        BaseType::Float64 => "Float64",
        BaseType::Grouped => "Grouped",
        BaseType::Address => "Address",
        BaseType::Time => "Time",
        BaseType::Utf8String => "UTF8String",
        BaseType::DiameterIdentity => "DiameterIdentity",
        BaseType::DiameterUri => "DiameterURI",
        BaseType::Enumerated => "Enumerated",
        BaseType::IpFilterRule => "IPFilterRule",
        BaseType::QosFilterRule => "QoSFilterRule",
    }
}

fn load_ours() -> Vec<Ours> {
    let model = diameter_codegen::Config::new()
        .dictionary_dir(root().join("dictionaries"))
        .load()
        .unwrap_or_else(|diags| {
            let list: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
            panic!("dictionaries do not load:\n{}", list.join("\n"))
        });
    let out: Vec<Ours> = model
        .avps
        .iter()
        .filter(|a| a.overridden_by.is_none())
        .map(|a| Ours {
            name: a.name.clone(),
            vendor: a.vendor,
            code: a.code,
            ty: type_name(a.ty),
            must_m: a.must.m,
            must_v: a.must.v,
            module: model.modules[a.module].name.clone(),
        })
        .collect();
    assert!(out.len() > 600, "only {} AVPs loaded", out.len());
    out
}

// ---------------------------------------------------------------------------------------
// Comparison

/// Names compare without case, `-`/`_` difference and surrounding blanks.
fn same_name(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.trim().to_ascii_lowercase().replace('_', "-");
    norm(a) == norm(b)
}

/// The source's type in our spelling (avp-crosscheck.md §2.3).
fn normalise_type(src: Source, ty: &str) -> &str {
    match (src, ty) {
        (Source::Ws, "IPAddress") => "Address",
        (Source::Ws, "AppId" | "VendorId") => "Unsigned32",
        (Source::Ws, "OctetStringOrUTF8") => "OctetString",
        (_, "DiamIdent") => "DiameterIdentity",
        (_, "DiamURI") => "DiameterURI",
        (_, "IPFiltrRule") => "IPFilterRule",
        _ => ty,
    }
}

fn same_type(src: Source, theirs: &str, ours: &str) -> bool {
    let theirs = normalise_type(src, theirs);
    theirs == ours
        // Wireshark declares Integer32/Unsigned32 code fields Enumerated only to print labels.
        || (src == Source::Ws && theirs == "Enumerated" && matches!(ours, "Integer32" | "Unsigned32"))
}

/// One difference: `check source vendor:code [= value]`, the key of the allow-list.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Diff {
    check: &'static str,
    source: Source,
    vendor: u32,
    code: u32,
    /// The source's value (type, name, flags, code), empty for `missing`/`unknown`/`coverage`.
    value: String,
    /// Explanation for the failure message.
    detail: String,
}

impl fmt::Display for Diff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}:{}",
            self.check,
            self.source.tag(),
            self.vendor,
            self.code
        )?;
        if !self.value.is_empty() {
            write!(f, " = {}", self.value)?;
        }
        write!(f, " | {} | <spec citation>", self.detail)
    }
}

fn flags_text((m, v): (bool, bool)) -> String {
    match (m, v) {
        (true, true) => "M,V",
        (true, false) => "M",
        (false, true) => "V",
        (false, false) => "-",
    }
    .to_string()
}

fn compare(ours: &[Ours], refs: &Refs) -> Vec<Diff> {
    let mut diffs = Vec::new();
    // (vendor, normalised name) -> codes, per source, for the `code` check.
    let norm = |s: &str| s.trim().to_ascii_lowercase().replace('_', "-");
    let mut by_name: BTreeMap<(Source, u32, String), BTreeSet<u32>> = BTreeMap::new();
    for (src, table) in &refs.tables {
        for ((vendor, code), rows) in table {
            for r in rows {
                by_name
                    .entry((*src, *vendor, norm(&r.name)))
                    .or_default()
                    .insert(*code);
            }
        }
    }
    for a in ours {
        let key = (a.vendor, a.code);
        let mut known = false;
        for src in Source::ALL {
            let mut diff = |check, value: String, detail: String| {
                diffs.push(Diff {
                    check,
                    source: src,
                    vendor: a.vendor,
                    code: a.code,
                    value,
                    detail,
                })
            };
            let rows = refs.tables[&src]
                .get(&key)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            if let Some(codes) = by_name.get(&(src, a.vendor, norm(&a.name))) {
                if !codes.contains(&a.code) {
                    let list: Vec<String> = codes.iter().map(u32::to_string).collect();
                    diff(
                        "code",
                        list.join(","),
                        format!("{} is code {} here", a.name, a.code),
                    );
                }
            }
            if rows.is_empty() {
                let expected = match src {
                    Source::Ws => true,
                    Source::Fd => a.vendor != 0,
                    Source::Rfc => false,
                };
                if expected {
                    diff(
                        "missing",
                        String::new(),
                        format!("{} ({}, {}) is absent", a.name, a.ty, a.module),
                    );
                }
                continue;
            }
            known = true;
            // A source may list a key twice; any matching row settles it.
            if !rows.iter().any(|r| same_type(src, &r.ty, a.ty)) {
                let theirs: BTreeSet<&str> = rows.iter().map(|r| r.ty.as_str()).collect();
                let theirs: Vec<&str> = theirs.into_iter().collect();
                diff(
                    "type",
                    theirs.join("/"),
                    format!("{} is {} here ({})", a.name, a.ty, rows[0].origin),
                );
            }
            if !rows.iter().any(|r| same_name(&r.name, &a.name)) {
                diff(
                    "name",
                    rows[0].name.trim().to_string(),
                    format!("{} here ({})", a.name, rows[0].origin),
                );
            }
            let stated: Vec<(bool, bool)> = rows.iter().filter_map(|r| r.must).collect();
            if !stated.is_empty() && !stated.contains(&(a.must_m, a.must_v)) {
                diff(
                    "flags",
                    flags_text(stated[0]),
                    format!(
                        "{} must {} here ({})",
                        a.name,
                        flags_text((a.must_m, a.must_v)),
                        rows[0].origin
                    ),
                );
            }
        }
        if !known {
            diffs.push(Diff {
                check: "unknown",
                source: Source::Ws,
                vendor: a.vendor,
                code: a.code,
                value: String::new(),
                detail: format!("{} ({}) is in no reference source", a.name, a.module),
            });
        }
    }
    diffs
}

// ---------------------------------------------------------------------------------------
// Allow-list

/// One allow-list line: `check source vendor:codes [= value] | reason | citation`.
struct Allow {
    line: usize,
    check: String,
    source: Source,
    vendor: u32,
    /// Inclusive code ranges.
    codes: Vec<(u32, u32)>,
    value: Option<String>,
    used: bool,
}

impl Allow {
    fn matches(&self, d: &Diff) -> bool {
        self.check == d.check
            && self.source == d.source
            && self.vendor == d.vendor
            && self
                .codes
                .iter()
                .any(|&(lo, hi)| (lo..=hi).contains(&d.code))
            && self.value.iter().all(|v| *v == d.value)
    }
}

fn load_allow() -> Vec<Allow> {
    let path = root().join(ALLOW_FILE);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{ALLOW_FILE}: {e}"));
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |why: &str| -> ! { panic!("{ALLOW_FILE}:{line_no}: {why}: {line}") };
        let parts: Vec<&str> = line.split('|').map(str::trim).collect();
        if parts.len() != 3 || parts[1].is_empty() || parts[2].is_empty() {
            bad("expected `check source vendor:codes [= value] | reason | citation`");
        }
        let (key, value) = match parts[0].split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim().to_string())),
            None => (parts[0], None),
        };
        let words: Vec<&str> = key.split_whitespace().collect();
        if words.len() != 3 {
            bad("expected `check source vendor:codes`");
        }
        if !matches!(
            words[0],
            "type" | "name" | "flags" | "code" | "missing" | "unknown" | "coverage"
        ) {
            bad("unknown check");
        }
        let source = Source::parse(words[1]).unwrap_or_else(|| bad("source is rfc, fd or ws"));
        let (vendor, codes) = words[2]
            .split_once(':')
            .unwrap_or_else(|| bad("expected vendor:codes"));
        let vendor = vendor.parse().unwrap_or_else(|_| bad("bad vendor"));
        let codes = codes
            .split(',')
            .map(|r| {
                let (lo, hi) = r.split_once('-').unwrap_or((r, r));
                match (lo.parse(), hi.parse()) {
                    (Ok(lo), Ok(hi)) if lo <= hi => (lo, hi),
                    _ => bad("bad code range"),
                }
            })
            .collect();
        out.push(Allow {
            line: line_no,
            check: words[0].to_string(),
            source,
            vendor,
            codes,
            value,
            used: false,
        });
    }
    out
}

/// Fails with every unexplained difference and every allow-list entry (of the given checks)
/// that explained nothing.
fn settle(diffs: &[Diff], allow: &mut [Allow], checks: &[&str], what: &str) {
    let mut unexplained = Vec::new();
    let mut explained = 0;
    for d in diffs {
        let mut hit = false;
        for a in allow.iter_mut().filter(|a| a.matches(d)) {
            a.used = true;
            hit = true;
        }
        if hit {
            explained += 1;
        } else {
            unexplained.push(d.to_string());
        }
    }
    let stale: Vec<String> = allow
        .iter()
        .filter(|a| checks.contains(&a.check.as_str()) && !a.used)
        .map(|a| format!("{ALLOW_FILE}:{} matches no difference any more", a.line))
        .collect();
    eprintln!(
        "{what}: {} differences, {explained} explained by {ALLOW_FILE}",
        diffs.len()
    );
    let mut problems = Vec::new();
    if !unexplained.is_empty() {
        problems.push(format!(
            "{} unexplained differences; fix the dictionary or add a line (reason and spec \
             citation) to {ALLOW_FILE}:\n{}",
            unexplained.len(),
            unexplained.join("\n")
        ));
    }
    if !stale.is_empty() {
        problems.push(format!("stale allow-list entries:\n{}", stale.join("\n")));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

// ---------------------------------------------------------------------------------------
// Tests

#[test]
fn avps_agree_with_wireshark_freediameter_and_rfc_tables() {
    let Some(specs) = specs_dir() else { return };
    let refs = load_refs(&specs);
    let ours = load_ours();
    let diffs = compare(&ours, &refs);
    let mut allow = load_allow();
    settle(
        &diffs,
        &mut allow,
        &["type", "name", "flags", "code", "missing", "unknown"],
        &format!("{} AVPs compared", ours.len()),
    );
}

#[test]
fn every_ts32299_and_rfc_avp_is_defined() {
    let Some(specs) = specs_dir() else { return };
    let refs = load_refs(&specs);
    let ours = load_ours();
    let defined: BTreeSet<(u32, u32)> = ours.iter().map(|a| (a.vendor, a.code)).collect();
    let ts32299 = refs
        .fd_sections
        .get("3GPP TS 32.299")
        .expect("the freeDiameter CSV has a 3GPP TS 32.299 section");
    assert!(
        ts32299.len() >= 415,
        "TS 32.299 section has only {} rows",
        ts32299.len()
    );
    let mut diffs = Vec::new();
    let rfc_rows = refs
        .rfc_rows
        .iter()
        .map(|(spec, v, c)| (spec.as_str(), *v, *c));
    let fd_rows = ts32299.iter().map(|&(v, c)| ("3GPP TS 32.299", v, c));
    for (spec, vendor, code) in fd_rows.chain(rfc_rows) {
        if defined.contains(&(vendor, code)) {
            continue;
        }
        let source = if spec.starts_with("RFC") {
            Source::Rfc
        } else {
            Source::Fd
        };
        let name = &refs.tables[&source][&(vendor, code)][0].name;
        diffs.push(Diff {
            check: "coverage",
            source,
            vendor,
            code,
            value: String::new(),
            detail: format!("{name} ({spec}) is not defined in dictionaries/"),
        });
    }
    diffs.sort();
    diffs.dedup();
    let mut allow = load_allow();
    settle(
        &diffs,
        &mut allow,
        &["coverage"],
        &format!(
            "{} TS 32.299 rows and {} RFC rows checked",
            ts32299.len(),
            refs.rfc_rows.len()
        ),
    );
}

#[test]
fn allow_list_is_well_formed() {
    // Parsing panics on a malformed line; this runs even without ../shared/specs.
    let allow = load_allow();
    assert!(
        allow.len() < 60,
        "{} allow-list entries: keep the list short",
        allow.len()
    );
}
