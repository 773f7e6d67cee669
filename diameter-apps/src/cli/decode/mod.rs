//! `diameter decode`: hex dumps, raw bytes and pcap/pcapng captures as readable trees.

pub mod json;
pub mod text;
pub mod tree;
pub mod value;

use super::exit::{CliError, CliResult, FAILURE, OK};
use super::pcap;
use super::style::Style;
use super::{hexin, timefmt};
use bytes::Bytes;
use diameter_core::message::{frame_len, Limits};
use serde_json::{Map, Value as Json};
use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use tree::Problem;

/// Arguments of `diameter decode`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  diameter decode 010000ac80000110000000000000000100000001...
  echo '01 00 00 ac 80 00 01 10 ...' | diameter decode
  diameter decode capture.pcapng
  diameter decode --json ccr.hex | jq '.[0].avps[] | .name'
  tshark -w - -i lo 'tcp port 3868' | diameter decode --format pcap -

Input: hex (spaces, colons, newlines and 0x tolerated; Wireshark \"Copy as Hex Dump\" and
xxd output with offsets and ASCII column too), a file holding such a dump,
raw message bytes or a pcap/pcapng capture (Diameter over TCP on any port, reassembled
per flow, and over SCTP, fragments joined). Without INPUT, or with -, standard input is read.

Exit status: 0 when everything decoded, 1 when anything was malformed (the problem and
its byte offset are printed), 2 for unreadable input.")]
pub struct DecodeArgs {
    /// Hex text, a file (hex, raw bytes, pcap or pcapng), or - for standard input.
    pub input: Option<String>,
    /// What the input is; `auto` looks at the content.
    #[arg(long, value_enum, default_value = "auto")]
    pub format: Format,
    /// Print JSON (an array of messages) instead of the text tree.
    #[arg(long)]
    pub json: bool,
}

/// Input formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Detect from the content.
    Auto,
    /// A hex dump.
    Hex,
    /// Raw message bytes, one or more messages back to back.
    Binary,
    /// A pcap or pcapng capture.
    Pcap,
}

/// Where a message came from, for packets.
#[derive(Clone, Debug, Default)]
pub struct Source {
    /// The capture's frame number, time and addresses, for messages from a capture.
    pub packet: Option<pcap::Meta>,
}

impl Source {
    /// A one-line description, or `None` for plain hex input.
    pub fn describe(&self) -> Option<String> {
        let p = self.packet.as_ref()?;
        let place = match p.sctp {
            Some((stream, tsn)) => format!("SCTP stream {stream}, TSN {tsn}"),
            None => format!("stream offset {}", p.stream_offset),
        };
        Some(format!(
            "Frame {} at {} ({}.{:09}): {} → {}, {place}",
            p.frame,
            timefmt::utc(p.time.0),
            p.time.0,
            p.time.1,
            p.src,
            p.dst,
        ))
    }

    /// Adds the packet fields to a JSON object.
    pub fn to_json(&self, m: &mut Map<String, Json>) {
        if let Some(p) = &self.packet {
            m.insert("frame".into(), p.frame.into());
            m.insert(
                "time".into(),
                format!("{}.{:09}", p.time.0, p.time.1).into(),
            );
            m.insert("src".into(), p.src.to_string().into());
            m.insert("dst".into(), p.dst.to_string().into());
            match p.sctp {
                Some((stream, tsn)) => {
                    m.insert("transport".into(), "sctp".into());
                    m.insert("sctp_stream".into(), stream.into());
                    m.insert("tsn".into(), tsn.into());
                }
                None => {
                    m.insert("transport".into(), "tcp".into());
                    m.insert("stream_offset".into(), p.stream_offset.into());
                }
            }
        }
    }
}

/// One output entry: a decoded message, or a problem that stopped one.
enum Entry {
    Message(tree::MessageNode, Source),
    Problem(Problem, Source),
}

/// Runs `diameter decode`.
pub fn run(args: &DecodeArgs, style: &Style) -> CliResult {
    let (data, from_text) = read_input(args)?;
    let format = match args.format {
        Format::Auto if pcap::file::is_capture(&data) => Format::Pcap,
        Format::Auto if from_text || looks_like_text(&data) => Format::Hex,
        Format::Auto => Format::Binary,
        f => f,
    };
    let entries = match format {
        Format::Pcap => from_capture(&data)?,
        Format::Hex => {
            let text = String::from_utf8_lossy(&data);
            let bytes = hexin::parse(&text)
                .map_err(|e| CliError::usage(format!("the input is not a hex dump: {e}")))?;
            from_bytes(Bytes::from(bytes))
        }
        _ => from_bytes(Bytes::from(data)),
    };
    if entries.is_empty() {
        return Err(CliError::failure("no Diameter message found in the input"));
    }
    print(&entries, args.json, style)
}

fn print(entries: &[Entry], as_json: bool, style: &Style) -> CliResult {
    let mut failed = false;
    let mut out = std::io::stdout().lock();
    let mut json_items = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        match e {
            Entry::Message(m, src) => {
                for p in m.problems() {
                    eprintln!("error: malformed message: {p}");
                    failed = true;
                }
                if as_json {
                    json_items.push(json::message(m, src));
                } else {
                    if i > 0 {
                        let _ = writeln!(out);
                    }
                    let _ = write!(out, "{}", text::render(m, src, style));
                }
            }
            Entry::Problem(p, src) => {
                failed = true;
                let place = src
                    .describe()
                    .map(|d| format!(" [{d}]"))
                    .unwrap_or_default();
                eprintln!("error: {p}{place}");
                if as_json {
                    let mut o = Map::new();
                    src.to_json(&mut o);
                    o.insert("offset".into(), p.offset.into());
                    o.insert("error".into(), p.what.clone().into());
                    json_items.push(Json::Object(o));
                }
            }
        }
    }
    if as_json {
        let text = serde_json::to_string_pretty(&Json::Array(json_items))
            .map_err(|e| CliError::failure(format!("cannot write JSON: {e}")))?;
        let _ = writeln!(out, "{text}");
    }
    Ok(if failed { FAILURE } else { OK })
}

/// Reads the input; the flag says whether it was given as text on the command line.
fn read_input(args: &DecodeArgs) -> Result<(Vec<u8>, bool), CliError> {
    match args.input.as_deref() {
        None | Some("-") => {
            if std::io::stdin().is_terminal() {
                return Err(CliError::usage(
                    "no input: give hex, a file, or pipe data into standard input (see --help)",
                ));
            }
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| CliError::usage(format!("cannot read standard input: {e}")))?;
            Ok((buf, false))
        }
        Some(s) if Path::new(s).is_file() => std::fs::read(s)
            .map(|b| (b, false))
            .map_err(|e| CliError::usage(format!("cannot read {s}: {e}"))),
        Some(s) if hexin::parse(s).is_ok() => Ok((s.as_bytes().to_vec(), true)),
        Some(s) if s.contains(['/', '\\']) || s.ends_with(".pcap") || s.ends_with(".pcapng") => {
            Err(CliError::usage(format!("{s}: no such file")))
        }
        Some(s) => Ok((s.as_bytes().to_vec(), true)),
    }
}

/// Text (a hex dump, possibly with offsets and an ASCII column) rather than raw bytes: raw
/// Diameter starts with version byte 1, a dump with printable characters.
fn looks_like_text(data: &[u8]) -> bool {
    data.first().is_some_and(|b| *b != 1)
        && std::str::from_utf8(data).is_ok_and(|t| {
            t.chars()
                .all(|c| !c.is_control() || c.is_ascii_whitespace())
        })
}

/// Cuts raw bytes into messages and decodes each.
fn from_bytes(data: Bytes) -> Vec<Entry> {
    let mut entries = Vec::new();
    let limits = Limits::default();
    let mut at = 0;
    while at < data.len() {
        let rest = &data[at..];
        let problem = match frame_len(rest, &limits) {
            Ok(Some(len)) if len <= rest.len() => {
                match tree::build(data.slice(at..at + len), at) {
                    Ok(m) => entries.push(Entry::Message(m, Source::default())),
                    Err(p) => entries.push(Entry::Problem(p, Source::default())),
                }
                at += len;
                continue;
            }
            Ok(Some(len)) => format!(
                "truncated message: the header says {len} bytes, {} are present",
                rest.len()
            ),
            Ok(None) => format!(
                "truncated message: {} bytes left, a header needs 20",
                rest.len()
            ),
            Err(e) => format!("cannot read a message header: {}", e.kind),
        };
        entries.push(Entry::Problem(
            Problem {
                offset: at,
                what: problem,
            },
            Source::default(),
        ));
        break;
    }
    entries
}

fn from_capture(data: &[u8]) -> Result<Vec<Entry>, CliError> {
    let (items, file_error) = pcap::messages(data);
    let mut entries = Vec::new();
    for item in items {
        match item {
            pcap::Item::Message(meta, bytes) => {
                let at = meta.stream_offset as usize;
                let src = Source { packet: Some(meta) };
                match tree::build(Bytes::from(bytes), at) {
                    Ok(m) => entries.push(Entry::Message(m, src)),
                    Err(p) => entries.push(Entry::Problem(p, src)),
                }
            }
            pcap::Item::Problem(meta, what) => entries.push(Entry::Problem(
                Problem {
                    offset: meta.stream_offset as usize,
                    what,
                },
                Source { packet: Some(meta) },
            )),
        }
    }
    if let Some(e) = file_error {
        if entries.is_empty() {
            return Err(CliError::usage(format!("cannot read the capture: {e}")));
        }
        entries.push(Entry::Problem(
            Problem {
                offset: e.offset,
                what: format!("the capture file is damaged: {}", e.what),
            },
            Source::default(),
        ));
    }
    Ok(entries)
}
