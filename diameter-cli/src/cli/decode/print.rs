//! Printing decoded messages as they come: the text tree or a JSON array written element by
//! element, with request/answer matching and the filters applied.

use super::filter::Filters;
use super::matching::Matcher;
use super::tree::Problem;
use super::{json, text, tree, Source};
use crate::cli::exit::{CliError, CliResult, FAILURE, OK};
use crate::cli::pcap;
use crate::cli::style::Style;
use bytes::Bytes;
use diameter_core::dictionary::Dictionary;
use serde_json::{Map, Value as Json};
use std::io::Write;

/// Prints entries one by one and remembers whether anything was malformed.
pub struct Printer<'a> {
    /// The dictionary messages are decoded with.
    pub dict: &'static Dictionary,
    out: Box<dyn Write + 'a>,
    json: bool,
    style: &'a Style,
    filters: Filters,
    matcher: Matcher,
    /// Messages decoded (printed or filtered out).
    pub decoded: usize,
    printed: usize,
    problems: usize,
    failed: bool,
}

impl<'a> Printer<'a> {
    /// A printer to `out`.
    pub fn new(
        dict: &'static Dictionary,
        out: Box<dyn Write + 'a>,
        json: bool,
        style: &'a Style,
        filters: Filters,
        matcher: Matcher,
    ) -> Self {
        Printer {
            dict,
            out,
            json,
            style,
            filters,
            matcher,
            decoded: 0,
            printed: 0,
            problems: 0,
            failed: false,
        }
    }

    /// Decodes and prints one item of a capture.
    pub fn item(&mut self, item: pcap::Item) {
        match item {
            pcap::Item::Message(meta, bytes) => {
                let at = meta.stream_offset as usize;
                let built = tree::build_with(self.dict, Bytes::from(bytes), at);
                let src = Source {
                    packet: Some(meta),
                    answer_to: None,
                };
                self.built(built, src);
            }
            pcap::Item::Problem(meta, what) => {
                let at = meta.stream_offset as usize;
                self.problem(Problem { offset: at, what }, &Source::packet(meta));
            }
        }
    }

    /// Prints a decoded message (or the problem that stopped it).
    pub fn built(&mut self, built: Result<tree::MessageNode, Problem>, mut src: Source) {
        let m = match built {
            Ok(m) => m,
            Err(p) => return self.problem(p, &src),
        };
        self.decoded += 1;
        if let Some(meta) = &src.packet {
            src.answer_to = self.matcher.see(&m, meta);
        }
        if !self.filters.pass(&m, src.packet.as_ref()) {
            return;
        }
        for p in m.problems() {
            eprintln!("error: malformed message: {p}");
            self.failed = true;
        }
        if self.json {
            let v = json::message(&m, &src);
            let text = serde_json::to_string_pretty(&v).unwrap_or_default();
            self.json_item(&text);
        } else {
            if self.printed > 0 {
                let _ = writeln!(self.out);
            }
            let _ = write!(self.out, "{}", text::render(&m, &src, self.style));
        }
        self.printed += 1;
    }

    /// Reports a problem on standard error (and as a JSON element).
    pub fn problem(&mut self, p: Problem, src: &Source) {
        self.failed = true;
        self.problems += 1;
        let place = src
            .describe()
            .map(|d| format!(" [{d}]"))
            .unwrap_or_default();
        eprintln!("error: {p}{place}");
        if self.json {
            let mut o = Map::new();
            src.to_json(&mut o);
            o.insert("offset".into(), p.offset.into());
            o.insert("error".into(), p.what.into());
            let text = serde_json::to_string_pretty(&Json::Object(o)).unwrap_or_default();
            self.json_item(&text);
            self.printed += 1;
        }
    }

    fn json_item(&mut self, text: &str) {
        let sep = if self.printed == 0 { "[\n" } else { ",\n" };
        let _ = write!(self.out, "{sep}{text}");
    }

    /// Pushes what was printed out now (after each packet of a live capture).
    pub fn flush(&mut self) {
        let _ = self.out.flush();
    }

    /// Ends the output: closes the JSON array, and fails when nothing was found.
    pub fn finish(mut self) -> CliResult {
        if self.json && self.printed > 0 {
            let _ = writeln!(self.out, "\n]");
        }
        if self.decoded == 0 && self.problems == 0 {
            return Err(CliError::failure("no Diameter message found in the input"));
        }
        if self.json && self.printed == 0 {
            let _ = writeln!(self.out, "[]");
        }
        let _ = self.out.flush();
        Ok(if self.failed { FAILURE } else { OK })
    }
}
