//! The checking stage: resolves the raw dictionaries' names to definitions (imports, vendors,
//! types, overrides and extensions) across all dictionaries into a [`checked::Model`](crate::checked::Model),
//! with every problem reported at its position.

use crate::checked::*;
use crate::diag::{Diags, Sources, Span};
use crate::names;
use crate::raw::{self, EnumValue, ExtendTarget};
use std::collections::{BTreeMap, BTreeSet, HashMap};

struct Resolver<'a> {
    sources: &'a Sources,
    diags: &'a mut Diags,
    dicts: Vec<raw::Dictionary>,
    /// For each dictionary, the set of dictionaries in scope (itself and transitive imports).
    scope: Vec<BTreeSet<usize>>,
    vendors: HashMap<String, (u32, Span)>,
    typedefs: HashMap<String, (String, Span)>,
    model: Model,
    avp_by_name: HashMap<String, Vec<usize>>,
    avp_by_code: HashMap<(u32, u32), usize>,
    avp_dict: Vec<usize>,
    command_dict: Vec<usize>,
}

/// Resolves parsed dictionaries into a [`Model`].
pub fn resolve(dicts: Vec<raw::Dictionary>, sources: &Sources, diags: &mut Diags) -> Model {
    let mut dicts = dicts;
    dicts.sort_by(|a, b| a.name.cmp(&b.name));
    let mut r = Resolver {
        sources,
        diags,
        scope: Vec::new(),
        vendors: HashMap::new(),
        typedefs: HashMap::new(),
        model: Model::default(),
        avp_by_name: HashMap::new(),
        avp_by_code: HashMap::new(),
        avp_dict: Vec::new(),
        command_dict: Vec::new(),
        dicts,
    };
    let order = r.imports();
    r.vendors_and_types();
    for &d in &order {
        r.avps(d);
    }
    for &d in &order {
        r.grouped(d);
        r.applications(d);
        r.result_codes(d);
    }
    for &d in &order {
        r.extends(d);
    }
    r.rust_names();
    r.model
}

impl Resolver<'_> {
    fn err(&mut self, span: Span, msg: impl Into<String>) {
        self.diags.push(self.sources, span, msg);
    }

    /// Checks imports, computes scopes, and returns the dictionaries with imports first.
    fn imports(&mut self) -> Vec<usize> {
        let index: HashMap<String, usize> = self
            .dicts
            .iter()
            .enumerate()
            .map(|(i, d)| (d.name.clone(), i))
            .collect();
        let mut seen: HashMap<&str, Span> = HashMap::new();
        let mut dup = Vec::new();
        for d in &self.dicts {
            if let Some(prev) = seen.insert(&d.name, d.span) {
                dup.push((
                    d.span,
                    format!(
                        "dictionary `{}` is also defined at {}",
                        d.name,
                        self.sources.at(prev)
                    ),
                ));
            }
        }
        for (s, m) in dup {
            self.err(s, m);
        }
        let mut edges: Vec<Vec<usize>> = vec![Vec::new(); self.dicts.len()];
        let mut bad = Vec::new();
        for (i, d) in self.dicts.iter().enumerate() {
            for (name, span) in &d.imports {
                match index.get(name) {
                    Some(&j) => edges[i].push(j),
                    None => bad.push((
                        *span,
                        format!(
                            "imported dictionary `{name}` is not among the dictionaries compiled"
                        ),
                    )),
                }
            }
        }
        for (s, m) in bad {
            self.err(s, m);
        }
        // Depth-first topological order with cycle detection.
        let n = self.dicts.len();
        let mut state = vec![0u8; n];
        let mut order = Vec::new();
        fn visit(
            i: usize,
            edges: &[Vec<usize>],
            state: &mut [u8],
            order: &mut Vec<usize>,
            cycle: &mut Option<usize>,
        ) {
            if state[i] == 2 {
                return;
            }
            if state[i] == 1 {
                *cycle = Some(i);
                return;
            }
            state[i] = 1;
            for &j in &edges[i] {
                visit(j, edges, state, order, cycle);
            }
            state[i] = 2;
            order.push(i);
        }
        for i in 0..n {
            let mut cycle = None;
            visit(i, &edges, &mut state, &mut order, &mut cycle);
            if let Some(c) = cycle {
                let (span, name) = (self.dicts[c].span, self.dicts[c].name.clone());
                self.err(
                    span,
                    format!("dictionary `{name}` imports itself through a cycle"),
                );
            }
        }
        self.scope = (0..n)
            .map(|i| {
                let mut s = BTreeSet::new();
                let mut stack = vec![i];
                while let Some(k) = stack.pop() {
                    if s.insert(k) {
                        stack.extend(edges[k].iter().copied());
                    }
                }
                s
            })
            .collect();
        for d in &self.dicts {
            self.model.modules.push(Module {
                name: d.name.clone(),
                spec: d.spec.clone(),
                href: d.href.clone(),
                doc: d.doc.clone(),
                imports: d.imports.iter().map(|(n, _)| n.clone()).collect(),
                extern_path: None,
            });
        }
        order
    }

    fn vendors_and_types(&mut self) {
        let mut problems = Vec::new();
        for d in &self.dicts {
            for v in &d.vendors {
                if let Some((id, at)) = self.vendors.get(&v.name) {
                    if *id != v.id {
                        problems.push((
                            v.span,
                            format!(
                                "vendor `{}` has id {id} at {}",
                                v.name,
                                self.sources.at(*at)
                            ),
                        ));
                    }
                } else {
                    self.vendors.insert(v.name.clone(), (v.id, v.span));
                }
            }
            for t in &d.typedefs {
                if BaseType::from_name(&t.name).is_some() || self.typedefs.contains_key(&t.name) {
                    problems.push((t.span, format!("type `{}` is already defined", t.name)));
                } else {
                    self.typedefs
                        .insert(t.name.clone(), (t.base.clone(), t.span));
                }
            }
        }
        for (s, m) in problems {
            self.err(s, m);
        }
    }

    /// An AVP of this name defined in a dictionary related to `d` (in its scope, or having
    /// `d` in scope): two such definitions would clash.
    fn related_by_name(&self, d: usize, name: &str) -> Option<usize> {
        let ids = self.avp_by_name.get(name)?;
        ids.iter().copied().find(|&id| {
            let other = self.avp_dict[id];
            self.scope[d].contains(&other) || self.scope[other].contains(&d)
        })
    }

    /// Resolves an AVP name as seen from dictionary `d`.
    fn lookup(&self, d: usize, name: &str) -> Result<usize, String> {
        let ids = self
            .avp_by_name
            .get(name)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let visible: Vec<usize> = ids
            .iter()
            .copied()
            .filter(|&id| self.scope[d].contains(&self.avp_dict[id]))
            .collect();
        match (visible.as_slice(), ids.first()) {
            ([id], _) => Ok(*id),
            ([], None) => Err(format!("AVP `{name}` is not defined")),
            ([], Some(&id)) => Err(format!(
                "AVP `{name}` is defined in `{}`, which this dictionary does not import",
                self.dicts[self.avp_dict[id]].name
            )),
            (many, _) => {
                let owners: Vec<&str> = many
                    .iter()
                    .map(|&id| self.dicts[self.avp_dict[id]].name.as_str())
                    .collect();
                Err(format!(
                    "AVP name `{name}` is ambiguous: defined in {}",
                    owners.join(" and ")
                ))
            }
        }
    }

    fn base_type(&self, name: &str) -> Option<BaseType> {
        let mut name = name.to_string();
        for _ in 0..16 {
            if let Some(b) = BaseType::from_name(&name) {
                return Some(b);
            }
            name = self.typedefs.get(&name)?.0.clone();
        }
        None
    }

    fn vendor_id(&mut self, d: usize, avp: &raw::Avp) -> u32 {
        let name = avp.vendor.clone().or_else(|| {
            if avp.must.v {
                self.dicts[d].default_vendor.clone()
            } else {
                None
            }
        });
        match name {
            None if avp.must.v => {
                self.err(avp.span, format!("AVP `{}` has the V flag but no vendor (set `vendor` here or on <dictionary>)", avp.name));
                0
            }
            None => 0,
            Some(n) => match self.vendors.get(&n).map(|(id, _)| *id) {
                Some(id) => {
                    if !avp.must.v {
                        self.err(
                            avp.span,
                            format!(
                                "AVP `{}` has vendor `{n}` but no V flag in `must`",
                                avp.name
                            ),
                        );
                    }
                    id
                }
                None => {
                    self.err(
                        avp.span,
                        format!("unknown vendor `{n}` (declare it with <vendor id=.. name=..>)"),
                    );
                    0
                }
            },
        }
    }

    fn avps(&mut self, d: usize) {
        let avps = self.dicts[d].avps.clone();
        for a in avps {
            let vendor = self.vendor_id(d, &a);
            let Some(ty) = self.base_type(&a.type_name) else {
                if a.type_name.is_empty() {
                    continue; // already reported as a missing attribute
                }
                self.err(
                    a.span,
                    format!("unknown type `{}` of AVP `{}`", a.type_name, a.name),
                );
                continue;
            };
            self.check_enums(&a, ty);
            if ty == BaseType::Grouped && a.grouped.is_none() {
                self.err(
                    a.span,
                    format!("Grouped AVP `{}` needs a <grouped> grammar", a.name),
                );
            }
            if ty != BaseType::Grouped && a.boxed {
                self.err(
                    a.span,
                    format!(
                        "AVP `{}` has boxed=\"true\" but type {}: only Grouped AVPs are boxed",
                        a.name, a.type_name
                    ),
                );
            }
            if ty != BaseType::Grouped && a.grouped.is_some() {
                self.err(
                    a.span,
                    format!(
                        "AVP `{}` has a <grouped> grammar but type {}",
                        a.name, a.type_name
                    ),
                );
            }
            let resolved = Avp {
                name: a.name.clone(),
                code: a.code,
                vendor,
                ty,
                type_name: a.type_name.clone(),
                must: a.must,
                may: a.may,
                module: d,
                spec: a.spec.clone(),
                release: a.release.clone(),
                doc: a.doc.clone(),
                enums: a.enums.clone(),
                grouped: None,
                extended_by: Vec::new(),
                overridden_by: None,
                boxed: a.boxed,
                span: a.span,
            };
            let by_name = self.related_by_name(d, &a.name);
            let by_code = self.avp_by_code.get(&(vendor, a.code)).copied();
            let existing = by_name.or(by_code);
            match (existing, a.overrides) {
                (None, false) => {
                    let id = self.model.avps.len();
                    self.model.avps.push(resolved);
                    self.avp_dict.push(d);
                    self.avp_by_name.entry(a.name.clone()).or_default().push(id);
                    self.avp_by_code.insert((vendor, a.code), id);
                }
                (None, true) => self.err(
                    a.span,
                    format!(
                        "AVP `{}` says override but there is nothing to override",
                        a.name
                    ),
                ),
                (Some(id), true)
                    if self.scope[d].contains(&self.avp_dict[id]) && self.avp_dict[id] != d =>
                {
                    if let Some(by) = &self.model.avps[id].overridden_by {
                        let msg = format!("AVP `{}` is already overridden by `{by}`", a.name);
                        self.err(a.span, msg);
                        continue;
                    }
                    let module = self.model.avps[id].module;
                    let dict_name = self.dicts[d].name.clone();
                    let old_name = self.model.avps[id].name.clone();
                    if let Some(ids) = self.avp_by_name.get_mut(&old_name) {
                        ids.retain(|&x| x != id);
                    }
                    self.avp_by_code
                        .remove(&(self.model.avps[id].vendor, self.model.avps[id].code));
                    self.model.avps[id] = Avp {
                        module,
                        overridden_by: Some(dict_name),
                        ..resolved
                    };
                    self.avp_by_name.entry(a.name.clone()).or_default().push(id);
                    self.avp_by_code.insert((vendor, a.code), id);
                }
                (Some(id), overrides) => {
                    let other = &self.model.avps[id];
                    let what = if by_name.is_some() {
                        format!("AVP name `{}`", a.name)
                    } else {
                        format!("AVP code {} (vendor {vendor}) of `{}`", a.code, a.name)
                    };
                    let hint = if overrides {
                        " (an override must import the original's dictionary)"
                    } else {
                        " (use override=\"true\" to replace it)"
                    };
                    let msg = format!(
                        "{what} is already defined as `{}` at {}{hint}",
                        other.name,
                        self.sources.at(other.span)
                    );
                    self.err(a.span, msg);
                }
            }
        }
    }

    fn check_enums(&mut self, a: &raw::Avp, ty: BaseType) {
        if ty == BaseType::Enumerated && a.enums.is_empty() {
            self.err(
                a.span,
                format!("Enumerated AVP `{}` needs at least one <enum>", a.name),
            );
        }
        if ty != BaseType::Enumerated && !a.enums.is_empty() {
            self.err(
                a.span,
                format!(
                    "AVP `{}` has <enum> values but type {}",
                    a.name, a.type_name
                ),
            );
        }
        self.check_enum_clash(&a.name, &[], &a.enums);
    }

    fn check_enum_clash(&mut self, avp: &str, existing: &[EnumValue], new: &[EnumValue]) {
        let mut names: HashMap<String, Span> = HashMap::new();
        let mut values: HashMap<i32, Span> = HashMap::new();
        for e in existing {
            names.insert(names::variant(&e.name), e.span);
            values.insert(e.value, e.span);
        }
        for e in new {
            if let Some(prev) = names.insert(names::variant(&e.name), e.span) {
                let msg = format!(
                    "enum value name `{}` of `{avp}` clashes with the one at {}",
                    e.name,
                    self.sources.at(prev)
                );
                self.err(e.span, msg);
            }
            if let Some(prev) = values.insert(e.value, e.span) {
                let msg = format!(
                    "enum value {} of `{avp}` is already named at {}",
                    e.value,
                    self.sources.at(prev)
                );
                self.err(e.span, msg);
            }
        }
    }

    fn grammar(&mut self, d: usize, g: &raw::Grammar, what: &str) -> Grammar {
        let mut out = Grammar {
            entries: Vec::new(),
            any: g.any,
            spec: g.spec.clone(),
        };
        self.add_entries(d, &mut out, &g.entries, what);
        out
    }

    fn add_entries(&mut self, d: usize, out: &mut Grammar, entries: &[raw::Entry], what: &str) {
        for e in entries {
            let id = match self.lookup(d, &e.avp) {
                Ok(id) => id,
                Err(msg) => {
                    self.err(e.span, format!("{msg} (in the grammar of {what})"));
                    continue;
                }
            };
            if out.entries.iter().any(|x| x.avp == id) {
                self.err(
                    e.span,
                    format!("AVP `{}` appears twice in the grammar of {what}", e.avp),
                );
                continue;
            }
            out.entries.push(Entry {
                avp: id,
                kind: e.kind,
                min: e.min,
                max: e.max,
                doc: e.doc.clone(),
                origin: e.origin.clone(),
            });
        }
    }

    fn grouped(&mut self, d: usize) {
        for a in self.dicts[d].avps.clone() {
            let (Some(g), Ok(id)) = (&a.grouped, self.lookup(d, &a.name)) else {
                continue;
            };
            if self.model.avps[id].module != d
                && self.model.avps[id].overridden_by.as_deref() != Some(&self.dicts[d].name)
            {
                continue;
            }
            let grammar = self.grammar(d, g, &format!("`{}`", a.name));
            self.model.avps[id].grouped = Some(grammar);
        }
    }

    fn applications(&mut self, d: usize) {
        for app in self.dicts[d].applications.clone() {
            if let Some(prev) = self.model.applications.iter().find(|x| x.id == app.id) {
                let msg = format!(
                    "application id {} is already used by `{}`",
                    app.id, prev.name
                );
                self.err(app.span, msg);
                continue;
            }
            let vendor = match &app.vendor {
                None => 0,
                Some(v) => match self.vendors.get(v) {
                    Some((id, _)) => *id,
                    None => {
                        self.err(app.span, format!("unknown vendor `{v}`"));
                        0
                    }
                },
            };
            let mut commands = Vec::new();
            for c in &app.commands {
                let dup =
                    self.model.commands.iter().any(|x| {
                        x.name == c.name || (x.code == c.code && x.application_id == app.id)
                    });
                if dup {
                    self.err(
                        c.span,
                        format!("command `{}` (code {}) is already defined", c.name, c.code),
                    );
                    continue;
                }
                let request = self.grammar(d, &c.request, &format!("{}-Request", c.name));
                let answer = self.grammar(d, &c.answer, &format!("{}-Answer", c.name));
                commands.push(self.model.commands.len());
                self.command_dict.push(d);
                self.model.commands.push(Command {
                    module: d,
                    application_id: app.id,
                    name: c.name.clone(),
                    short: c.short.clone(),
                    code: c.code,
                    proxiable: c.proxiable,
                    spec: c.spec.clone(),
                    doc: c.doc.clone(),
                    request,
                    answer,
                    extended_by: Vec::new(),
                });
            }
            let mut uses = Vec::new();
            for (name, span) in &app.uses {
                match self.command_in_scope(d, name) {
                    Some(i) => uses.push(i),
                    None => self.err(
                        *span,
                        format!(
                            "command `{name}` is not defined in this dictionary or its imports"
                        ),
                    ),
                }
            }
            self.model.applications.push(Application {
                module: d,
                id: app.id,
                name: app.name.clone(),
                accounting: app.accounting,
                vendor,
                spec: app.spec.clone(),
                doc: app.doc.clone(),
                commands,
                uses,
            });
        }
    }

    fn command_in_scope(&self, d: usize, name: &str) -> Option<usize> {
        self.model
            .commands
            .iter()
            .enumerate()
            .find(|(i, c)| c.name == name && self.scope[d].contains(&self.command_dict[*i]))
            .map(|(i, _)| i)
    }

    fn result_codes(&mut self, d: usize) {
        for r in self.dicts[d].result_codes.clone() {
            if self
                .model
                .result_codes
                .iter()
                .any(|x| x.module == d && x.name == r.name)
            {
                self.err(r.span, format!("result code `{}` is defined twice", r.name));
                continue;
            }
            self.model.result_codes.push(ResultCode {
                module: d,
                name: r.name,
                value: r.value,
                spec: r.spec,
                doc: r.doc,
            });
        }
    }

    fn extends(&mut self, d: usize) {
        let dict_name = self.dicts[d].name.clone();
        for x in self.dicts[d].extends.clone() {
            match &x.target {
                ExtendTarget::Avp(name) => {
                    let id = match self.lookup(d, name) {
                        Ok(id) => id,
                        Err(msg) => {
                            self.err(x.span, format!("<extend>: {msg}"));
                            continue;
                        }
                    };
                    if !x.enums.is_empty() {
                        if self.model.avps[id].ty != BaseType::Enumerated {
                            self.err(x.span, format!("<extend> adds enum values to `{name}`, which is not Enumerated"));
                            continue;
                        }
                        let existing = self.model.avps[id].enums.clone();
                        self.check_enum_clash(name, &existing, &x.enums);
                        self.model.avps[id].enums.extend(x.enums.iter().cloned());
                    }
                    if let Some(g) = &x.grouped {
                        let Some(mut target) = self.model.avps[id].grouped.take() else {
                            self.err(x.span, format!("<extend> adds grammar entries to `{name}`, which is not Grouped"));
                            continue;
                        };
                        self.add_entries(d, &mut target, &g.entries, &format!("`{name}`"));
                        self.model.avps[id].grouped = Some(target);
                    }
                    self.model.avps[id].extended_by.push(dict_name.clone());
                }
                ExtendTarget::Command(name) => {
                    let Some(i) = self.command_in_scope(d, name) else {
                        self.err(x.span, format!("<extend> of command `{name}`, which is not defined in this dictionary or its imports"));
                        continue;
                    };
                    let mut cmd = self.model.commands[i].clone();
                    if let Some(g) = &x.request {
                        self.add_entries(
                            d,
                            &mut cmd.request,
                            &g.entries,
                            &format!("{name}-Request"),
                        );
                    }
                    if let Some(g) = &x.answer {
                        self.add_entries(d, &mut cmd.answer, &g.entries, &format!("{name}-Answer"));
                    }
                    cmd.extended_by.push(dict_name.clone());
                    self.model.commands[i] = cmd;
                }
            }
        }
    }

    /// Two source names that become one Rust name are an error.
    fn rust_names(&mut self) {
        let mut problems = Vec::new();
        let mut types: BTreeMap<(usize, String), String> = BTreeMap::new();
        let mut consts: BTreeMap<(usize, String), String> = BTreeMap::new();
        for a in &self.model.avps {
            if let Some(prev) = consts.insert((a.module, names::constant(&a.name)), a.name.clone())
            {
                problems.push((
                    a.span,
                    format!(
                        "AVP names `{prev}` and `{}` map to the same Rust constant",
                        a.name
                    ),
                ));
            }
            if matches!(a.ty, BaseType::Grouped | BaseType::Enumerated) {
                if let Some(prev) =
                    types.insert((a.module, names::type_name(&a.name)), a.name.clone())
                {
                    problems.push((
                        a.span,
                        format!("`{prev}` and `{}` map to the same Rust type name", a.name),
                    ));
                }
            }
            if let Some(g) = &a.grouped {
                let mut fields = BTreeSet::new();
                for e in &g.entries {
                    let f = names::field(&self.model.avps[e.avp].name);
                    if f == "other" || !fields.insert(f) {
                        problems.push((
                            a.span,
                            format!("two members of `{}` map to one Rust field name", a.name),
                        ));
                    }
                }
            }
        }
        for c in &self.model.commands {
            for suffix in ["Request", "Answer"] {
                let t = format!("{}{suffix}", names::type_name(&c.name));
                if let Some(prev) = types.insert((c.module, t.clone()), c.name.clone()) {
                    let span = self.dicts[c.module].span;
                    problems.push((
                        span,
                        format!(
                            "the Rust type `{t}` of command `{}` clashes with `{prev}`",
                            c.name
                        ),
                    ));
                }
            }
        }
        for (s, m) in problems {
            self.err(s, m);
        }
    }
}
