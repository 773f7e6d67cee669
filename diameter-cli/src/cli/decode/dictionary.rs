//! `--dictionary FILE.xml`: the user's own XML dictionary, read at run time with the code
//! generator's parser and checker (the standard dictionaries it ships are loaded with it, so
//! the file can import and extend them), turned into the runtime tables the decoder reads.
//!
//! The tables live for the rest of the process (`Box::leak`): the command line loads them
//! once, before decoding starts.

use diameter_codegen::checked::{Grammar as ModelGrammar, Model};
use diameter_core::dictionary::{
    ApplicationInfo, AvpInfo, CommandInfo, Dictionary, Grammar, GrammarEntry, ResultCodeInfo,
};
use std::path::Path;

/// Loads the standard dictionaries and `files`; an error lists every diagnostic with its
/// `file:line:col`.
pub fn load(files: &[impl AsRef<Path>]) -> Result<&'static Dictionary, String> {
    let mut config = diameter_codegen::Config::new();
    config.standard_dictionaries();
    for f in files {
        config.dictionary(f);
    }
    let model = config.load().map_err(|diags| {
        let lines: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
        format!("the dictionary has errors:\n{}", lines.join("\n"))
    })?;
    Ok(leak(tables(&model)))
}

fn leak<T>(v: T) -> &'static T {
    Box::leak(Box::new(v))
}

fn text(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

fn flags(f: &diameter_codegen::raw::Flags) -> u8 {
    u8::from(f.v) << 7 | u8::from(f.m) << 6 | u8::from(f.p) << 5
}

/// The runtime tables of a checked model.
fn tables(model: &Model) -> Dictionary {
    let module = |i: usize| text(model.modules.get(i).map_or("", |m| m.name.as_str()));
    let grammar = |g: &ModelGrammar| -> Grammar {
        let entries: Vec<GrammarEntry> = g
            .entries
            .iter()
            .filter_map(|e| {
                let a = model.avps.get(e.avp)?;
                Some(GrammarEntry {
                    name: text(&a.name),
                    code: a.code,
                    vendor: a.vendor,
                    kind: e.kind,
                    min: e.min,
                    max: e.max,
                })
            })
            .collect();
        Grammar {
            entries: Box::leak(entries.into_boxed_slice()),
            any: g.any,
        }
    };
    let mut avps: Vec<AvpInfo> = model
        .avps
        .iter()
        .map(|a| {
            let enums: Vec<(i32, &'static str)> =
                a.enums.iter().map(|e| (e.value, text(&e.name))).collect();
            AvpInfo {
                name: text(&a.name),
                code: a.code,
                vendor: a.vendor,
                data_type: a.ty,
                must: flags(&a.must),
                may: flags(&a.may),
                enums: Box::leak(enums.into_boxed_slice()),
                grouped: a.grouped.as_ref().map(grammar),
                dictionary: module(a.module),
                spec: text(&a.spec),
            }
        })
        .collect();
    avps.sort_by_key(|a| (a.vendor, a.code));
    avps.dedup_by_key(|a| (a.vendor, a.code));
    let commands: Vec<CommandInfo> = model
        .commands
        .iter()
        .map(|c| CommandInfo {
            name: text(&c.name),
            short: text(&c.short),
            code: c.code,
            application_id: c.application_id,
            proxiable: c.proxiable,
            request: grammar(&c.request),
            answer: grammar(&c.answer),
            dictionary: module(c.module),
            spec: text(&c.spec),
        })
        .collect();
    let applications: Vec<ApplicationInfo> = model
        .applications
        .iter()
        .map(|a| ApplicationInfo {
            name: text(&a.name),
            id: a.id,
            accounting: a.accounting,
            vendor: a.vendor,
            dictionary: module(a.module),
        })
        .collect();
    let result_codes: Vec<ResultCodeInfo> = model
        .result_codes
        .iter()
        .map(|r| ResultCodeInfo {
            name: text(&r.name),
            value: r.value,
            dictionary: module(r.module),
        })
        .collect();
    Dictionary {
        avps: Box::leak(avps.into_boxed_slice()),
        commands: Box::leak(commands.into_boxed_slice()),
        applications: Box::leak(applications.into_boxed_slice()),
        result_codes: Box::leak(result_codes.into_boxed_slice()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With no file of its own, the tables equal the compiled-in standard dictionary:
    /// every AVP (name, type, flags, enum values) and every command.
    #[test]
    fn standard_dictionaries_at_run_time_equal_the_compiled_ones() {
        let d = load(&[] as &[&str]).expect("standard dictionaries load");
        let std = &diameter::dict::DICTIONARY;
        assert_eq!(d.avps.len(), std.avps.len());
        for (a, b) in d.avps.iter().zip(std.avps) {
            assert_eq!(
                (
                    a.name,
                    a.code,
                    a.vendor,
                    a.data_type,
                    a.must,
                    a.may,
                    a.enums
                ),
                (
                    b.name,
                    b.code,
                    b.vendor,
                    b.data_type,
                    b.must,
                    b.may,
                    b.enums
                ),
            );
            assert_eq!(
                a.grouped.map(|g| g.entries.len()),
                b.grouped.map(|g| g.entries.len()),
                "{}",
                a.name
            );
        }
        assert_eq!(d.commands.len(), std.commands.len());
        for c in std.commands {
            let ours = d.command(c.code, c.application_id).expect("command");
            assert_eq!((ours.name, ours.short), (c.name, c.short));
        }
    }

    #[test]
    fn a_bad_file_names_the_line() {
        let dir = std::env::temp_dir().join(format!("dict-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let f = dir.join("bad.xml");
        std::fs::write(
            &f,
            "<dictionary name=\"bad\">\n  <avp name=\"X\" code=\"1\" type=\"Nope\"/>\n</dictionary>\n",
        )
        .expect("write");
        let e = load(&[&f]).expect_err("an error");
        let _ = std::fs::remove_dir_all(&dir);
        assert!(e.contains("bad.xml:2:"), "{e}");
    }
}
