//! Element tree to [`Dictionary`]: checks element and attribute names, required
//! attributes and numbers, and reports every problem with its position.

use crate::diag::{Diags, Sources};
use crate::parse::Element;
use crate::raw::*;

struct Ctx<'a> {
    sources: &'a Sources,
    diags: &'a mut Diags,
    dict: String,
}

impl Ctx<'_> {
    fn err(&mut self, el: &Element, msg: impl Into<String>) {
        self.diags.push(self.sources, el.span, msg);
    }

    /// Checks that every attribute of `el` is one of `known`.
    fn known_attrs(&mut self, el: &Element, known: &[&str]) {
        for a in &el.attrs {
            if !known.contains(&a.name.as_str()) {
                let msg = format!(
                    "unknown attribute `{}` on <{}> (expected one of: {})",
                    a.name,
                    el.name,
                    known.join(", ")
                );
                self.diags.push(self.sources, a.span, msg);
            }
        }
    }

    fn req(&mut self, el: &Element, name: &str) -> String {
        match el.attr(name) {
            Some(a) => a.value.clone(),
            None => {
                self.err(el, format!("<{}> needs the attribute `{name}`", el.name));
                String::new()
            }
        }
    }

    fn opt(&self, el: &Element, name: &str) -> String {
        el.attr(name).map(|a| a.value.clone()).unwrap_or_default()
    }

    fn number<T: TryFrom<i64>>(&mut self, el: &Element, name: &str, value: &str) -> Option<T> {
        let v = value.trim();
        let parsed = if let Some(hex) = v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
            i64::from_str_radix(hex, 16).ok()
        } else {
            v.parse::<i64>().ok()
        };
        match parsed.and_then(|n| T::try_from(n).ok()) {
            Some(n) => Some(n),
            None => {
                self.err(
                    el,
                    format!(
                        "`{name}` of <{}> must be a number in range, not `{value}`",
                        el.name
                    ),
                );
                None
            }
        }
    }

    fn req_u32(&mut self, el: &Element, name: &str) -> u32 {
        let v = self.req(el, name);
        if v.is_empty() {
            return 0;
        }
        self.number(el, name, &v).unwrap_or(0)
    }

    fn flags(&mut self, el: &Element, name: &str) -> Flags {
        let mut f = Flags::default();
        for c in self.opt(el, name).chars() {
            match c {
                'M' => f.m = true,
                'V' => f.v = true,
                'P' => f.p = true,
                ' ' | ',' => {}
                other => self.err(
                    el,
                    format!("`{name}` may hold the flags M, V and P, not `{other}`"),
                ),
            }
        }
        f
    }

    fn bool(&mut self, el: &Element, name: &str) -> bool {
        match self.opt(el, name).as_str() {
            "" | "false" => false,
            "true" => true,
            other => {
                self.err(el, format!("`{name}` must be true or false, not `{other}`"));
                false
            }
        }
    }

    fn doc(&mut self, el: &Element) -> String {
        let mut doc = el.attr("doc").map(|a| a.value.clone()).unwrap_or_default();
        for c in el.children.iter().filter(|c| c.name == "doc") {
            if !doc.is_empty() {
                doc.push('\n');
            }
            doc.push_str(&dedent(&c.text));
        }
        doc
    }
}

/// Removes common leading indentation and surrounding blank lines.
fn dedent(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let indent = lines
        .iter()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut out: Vec<String> = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let l = if i == 0 {
            l.trim_start()
        } else {
            l.get(indent.min(l.len())..).unwrap_or("")
        };
        out.push(l.trim_end().to_string());
    }
    while out.first().is_some_and(|l| l.is_empty()) {
        out.remove(0);
    }
    while out.last().is_some_and(|l| l.is_empty()) {
        out.pop();
    }
    out.join("\n")
}

/// Reads a dictionary from its root element.
pub fn dictionary(root: &Element, sources: &Sources, diags: &mut Diags) -> Dictionary {
    let mut cx = Ctx {
        sources,
        diags,
        dict: String::new(),
    };
    if root.name != "dictionary" {
        cx.err(
            root,
            format!("the root element must be <dictionary>, not <{}>", root.name),
        );
    }
    cx.known_attrs(root, &["name", "spec", "href", "vendor"]);
    let name = cx.req(root, "name");
    if !name.is_empty()
        && !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        cx.err(
            root,
            format!("dictionary name `{name}` must use only a-z, 0-9 and _"),
        );
    }
    cx.dict = name.clone();
    let mut d = Dictionary {
        spec: cx.opt(root, "spec"),
        href: cx.opt(root, "href"),
        doc: cx.doc(root),
        default_vendor: root.attr("vendor").map(|a| a.value.clone()),
        span: root.span,
        name,
        ..Default::default()
    };
    for el in &root.children {
        match el.name.as_str() {
            "doc" => {}
            "import" => {
                cx.known_attrs(el, &["dictionary"]);
                d.imports.push((cx.req(el, "dictionary"), el.span));
            }
            "vendor" => {
                cx.known_attrs(el, &["id", "name"]);
                d.vendors.push(Vendor {
                    id: cx.req_u32(el, "id"),
                    name: cx.req(el, "name"),
                    span: el.span,
                });
            }
            "typedef" => {
                cx.known_attrs(el, &["name", "base", "spec"]);
                d.typedefs.push(Typedef {
                    name: cx.req(el, "name"),
                    base: cx.req(el, "base"),
                    span: el.span,
                });
            }
            "result-code" => {
                cx.known_attrs(el, &["name", "value", "spec", "doc"]);
                d.result_codes.push(ResultCode {
                    name: cx.req(el, "name"),
                    value: cx.req_u32(el, "value"),
                    spec: cx.opt(el, "spec"),
                    doc: cx.doc(el),
                    span: el.span,
                });
            }
            "avp" => d.avps.push(avp(&mut cx, el)),
            "application" => d.applications.push(application(&mut cx, el)),
            "extend" => d.extends.push(extend(&mut cx, el)),
            other => cx.err(el, format!("unknown element <{other}> in <dictionary>")),
        }
    }
    d
}

fn avp(cx: &mut Ctx<'_>, el: &Element) -> Avp {
    cx.known_attrs(
        el,
        &[
            "name", "code", "type", "must", "may", "vendor", "spec", "release", "override", "boxed",
        ],
    );
    let mut a = Avp {
        name: cx.req(el, "name"),
        code: cx.req_u32(el, "code"),
        type_name: cx.req(el, "type"),
        must: cx.flags(el, "must"),
        may: cx.flags(el, "may"),
        vendor: el.attr("vendor").map(|a| a.value.clone()),
        spec: cx.opt(el, "spec"),
        release: cx.opt(el, "release"),
        overrides: cx.bool(el, "override"),
        boxed: cx.bool(el, "boxed"),
        doc: cx.doc(el),
        enums: Vec::new(),
        grouped: None,
        span: el.span,
    };
    for c in &el.children {
        match c.name.as_str() {
            "doc" => {}
            "enum" => a.enums.push(enum_value(cx, c)),
            "grouped" => {
                if a.grouped.is_some() {
                    cx.err(c, format!("AVP `{}` has more than one <grouped>", a.name));
                }
                a.grouped = Some(grammar(cx, c));
            }
            other => cx.err(c, format!("unknown element <{other}> in <avp>")),
        }
    }
    a
}

fn enum_value(cx: &mut Ctx<'_>, el: &Element) -> EnumValue {
    cx.known_attrs(el, &["name", "value", "doc", "spec"]);
    let raw = cx.req(el, "value");
    let value = if raw.is_empty() {
        0
    } else {
        cx.number::<i32>(el, "value", &raw).unwrap_or(0)
    };
    EnumValue {
        name: cx.req(el, "name"),
        value,
        doc: cx.doc(el),
        origin: cx.dict.clone(),
        span: el.span,
    }
}

fn grammar(cx: &mut Ctx<'_>, el: &Element) -> Grammar {
    cx.known_attrs(el, &["spec"]);
    let mut g = Grammar {
        spec: cx.opt(el, "spec"),
        span: el.span,
        ..Default::default()
    };
    let mut seen_other = false;
    let mut any_reported = false;
    for c in &el.children {
        let kind = match c.name.as_str() {
            "fixed" => EntryKind::Fixed,
            "required" => EntryKind::Required,
            "optional" => EntryKind::Optional,
            "any" => {
                cx.known_attrs(c, &["min", "max", "doc"]);
                g.any = true;
                continue;
            }
            "doc" => continue,
            other => {
                cx.err(c, format!("unknown element <{other}> in a grammar (expected fixed, required, optional or any)"));
                continue;
            }
        };
        cx.known_attrs(c, &["avp", "min", "max", "doc"]);
        if g.any && !any_reported {
            cx.err(c, "<any/> must be the last entry of a grammar");
            any_reported = true;
        }
        if kind == EntryKind::Fixed && seen_other {
            cx.err(
                c,
                "<fixed> entries must come before <required> and <optional> ones",
            );
        }
        seen_other |= kind != EntryKind::Fixed;
        let min_s = cx.opt(c, "min");
        let max_s = cx.opt(c, "max");
        let default_min = if kind == EntryKind::Optional { 0 } else { 1 };
        let min = if min_s.is_empty() {
            default_min
        } else {
            cx.number::<u32>(c, "min", &min_s).unwrap_or(default_min)
        };
        let max = match max_s.as_str() {
            "*" => None,
            "" if min_s.is_empty() => Some(1),
            "" => None,
            m => cx.number::<u32>(c, "max", m),
        };
        if kind == EntryKind::Optional && min != 0 {
            cx.err(
                c,
                "an <optional> entry cannot have a minimum above 0; use <required>",
            );
        }
        if let Some(max) = max {
            if max != 0 && max < min {
                cx.err(c, format!("max {max} is below min {min}"));
            }
        }
        g.entries.push(Entry {
            avp: cx.req(c, "avp"),
            kind,
            min,
            max,
            doc: cx.doc(c),
            origin: cx.dict.clone(),
            span: c.span,
        });
    }
    g
}

fn application(cx: &mut Ctx<'_>, el: &Element) -> Application {
    cx.known_attrs(el, &["id", "name", "type", "vendor", "spec"]);
    let accounting = match cx.req(el, "type").as_str() {
        "acct" => true,
        "auth" | "" => false,
        other => {
            cx.err(
                el,
                format!("application type must be auth or acct, not `{other}`"),
            );
            false
        }
    };
    let mut app = Application {
        id: cx.req_u32(el, "id"),
        name: cx.req(el, "name"),
        accounting,
        vendor: el.attr("vendor").map(|a| a.value.clone()),
        spec: cx.opt(el, "spec"),
        doc: cx.doc(el),
        commands: Vec::new(),
        uses: Vec::new(),
        span: el.span,
    };
    for c in &el.children {
        match c.name.as_str() {
            "doc" => {}
            "command" => app.commands.push(command(cx, c)),
            "uses" => {
                cx.known_attrs(c, &["command"]);
                app.uses.push((cx.req(c, "command"), c.span));
            }
            other => cx.err(c, format!("unknown element <{other}> in <application>")),
        }
    }
    app
}

fn command(cx: &mut Ctx<'_>, el: &Element) -> Command {
    cx.known_attrs(el, &["code", "name", "short", "proxiable", "spec"]);
    let mut cmd = Command {
        code: cx.req_u32(el, "code"),
        name: cx.req(el, "name"),
        short: cx.req(el, "short"),
        proxiable: cx.bool(el, "proxiable"),
        spec: cx.opt(el, "spec"),
        doc: cx.doc(el),
        request: Grammar::default(),
        answer: Grammar::default(),
        span: el.span,
    };
    let (mut has_req, mut has_ans) = (false, false);
    for c in &el.children {
        match c.name.as_str() {
            "doc" => {}
            "request" => {
                has_req = true;
                cmd.request = grammar(cx, c);
            }
            "answer" => {
                has_ans = true;
                cmd.answer = grammar(cx, c);
            }
            other => cx.err(c, format!("unknown element <{other}> in <command>")),
        }
    }
    if !has_req || !has_ans {
        cx.err(
            el,
            format!("command `{}` needs both <request> and <answer>", cmd.name),
        );
    }
    cmd
}

fn extend(cx: &mut Ctx<'_>, el: &Element) -> Extend {
    cx.known_attrs(el, &["avp", "command", "application"]);
    let target = match (el.attr("avp"), el.attr("command")) {
        (Some(a), None) => ExtendTarget::Avp(a.value.clone()),
        (None, Some(c)) => ExtendTarget::Command(c.value.clone()),
        _ => {
            cx.err(el, "<extend> needs exactly one of `avp` or `command`");
            ExtendTarget::Avp(String::new())
        }
    };
    let mut x = Extend {
        target,
        enums: Vec::new(),
        grouped: None,
        request: None,
        answer: None,
        span: el.span,
    };
    for c in &el.children {
        match c.name.as_str() {
            "doc" => {}
            "enum" => x.enums.push(enum_value(cx, c)),
            "grouped" => x.grouped = Some(grammar(cx, c)),
            "request" => x.request = Some(grammar(cx, c)),
            "answer" => x.answer = Some(grammar(cx, c)),
            other => cx.err(c, format!("unknown element <{other}> in <extend>")),
        }
    }
    x
}
