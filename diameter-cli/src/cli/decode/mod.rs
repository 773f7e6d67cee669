//! `diameter decode`: hex dumps, raw bytes and pcap/pcapng captures as readable trees.

pub mod dictionary;
pub mod filter;
pub mod json;
pub mod matching;
pub mod print;
pub mod text;
pub mod tree;
pub mod value;

use super::exit::{CliError, CliResult};
use super::pcap;
use super::style::Style;
use super::{hexin, timefmt};
use bytes::Bytes;
use diameter::dict::DICTIONARY;
use diameter_core::dictionary::Dictionary;
use diameter_core::message::{frame_len, Limits};
use filter::Filters;
use matching::Matcher;
use print::Printer;
use serde_json::{Map, Value as Json};
use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::time::Duration;
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
  diameter decode --follow growing.pcapng --command CCA --result-code 4012
  diameter decode capture.pcap --session 'pgw;1;1' --peer 10.0.0.2:3868
  diameter decode capture.pcap --dictionary acme.xml

Input: hex (spaces, colons, newlines and 0x tolerated; Wireshark \"Copy as Hex Dump\" and
xxd output with offsets and ASCII column too), a file holding such a dump,
raw message bytes or a pcap/pcapng capture (Diameter over TCP on any port, reassembled
per flow, and over SCTP, fragments joined). Without INPUT, or with -, standard input is read.
Captures are decoded as their bytes arrive; an answer shows the frame of its request and the
response time. Filters may be repeated; different filters must all match.

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
    /// Keep reading a capture file as it grows (like `tail -f`); stop with Ctrl-C.
    #[arg(long)]
    pub follow: bool,
    /// Also decode with this XML dictionary (vendor AVPs, commands, extensions of the
    /// standard ones), read now without rebuilding. It may import the standard dictionaries
    /// (base_rfc6733, dcca_rfc4006, sip_rfc4740, tgpp_ts32299). Repeat for several.
    #[arg(long, value_name = "FILE.xml")]
    pub dictionary: Vec<std::path::PathBuf>,
    /// Only messages of this command: a code (272), a name (Credit-Control), or its
    /// request or answer (CCR, CCA). Repeat for several.
    #[arg(long, value_name = "COMMAND")]
    pub command: Vec<String>,
    /// Only messages with this Session-Id. Repeat for several.
    #[arg(long, value_name = "SESSION-ID")]
    pub session: Vec<String>,
    /// Only answers with this Result-Code (or Experimental-Result-Code). Repeat for several.
    #[arg(long, value_name = "CODE")]
    pub result_code: Vec<u32>,
    /// Only messages from or to this peer: ADDRESS:PORT, ADDRESS, or the Origin-Host it
    /// sent (captures only). Repeat for several.
    #[arg(long, value_name = "PEER")]
    pub peer: Vec<String>,
    /// Requests remembered while waiting for their answers (for response times); the
    /// oldest are forgotten past it.
    #[arg(long, value_name = "N", default_value_t = matching::DEFAULT_MAX_OUTSTANDING)]
    pub max_outstanding: usize,
    /// Largest pcap record or pcapng block accepted, in bytes; a longer one is reported
    /// as damage instead of being waited for.
    #[arg(long, value_name = "BYTES", default_value_t = pcap::file::DEFAULT_MAX_BLOCK)]
    pub max_block: usize,
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
    /// For an answer in a capture: its request's frame and the response time.
    pub answer_to: Option<matching::AnswerTo>,
}

impl Source {
    /// A message or problem from a capture.
    pub fn packet(meta: pcap::Meta) -> Self {
        Source {
            packet: Some(meta),
            answer_to: None,
        }
    }

    /// A one-line description, or `None` for plain hex input.
    pub fn describe(&self) -> Option<String> {
        let p = self.packet.as_ref()?;
        let place = match p.sctp {
            Some((stream, tsn)) => format!("SCTP stream {stream}, TSN {tsn}"),
            None => format!("stream offset {}", p.stream_offset),
        };
        let answer = self
            .answer_to
            .as_ref()
            .map(|a| format!("; answer to frame {} after {:.6} s", a.frame, a.seconds()))
            .unwrap_or_default();
        Some(format!(
            "Frame {} at {} ({}.{:09}): {} → {}, {place}{answer}",
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
        if let Some(a) = &self.answer_to {
            m.insert("answer_to".into(), a.frame.into());
            m.insert("resp_time".into(), a.seconds().into());
        }
    }
}

/// How often a followed file is polled for new bytes.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

/// Bytes read from the input at a time.
const CHUNK: usize = 64 * 1024;

/// Runs `diameter decode`.
pub fn run(args: &DecodeArgs, style: &Style) -> CliResult {
    let dict: &'static Dictionary = if args.dictionary.is_empty() {
        &DICTIONARY
    } else {
        dictionary::load(&args.dictionary).map_err(CliError::usage)?
    };
    let filters = filters(dict, args)?;
    let out: Box<dyn Write> = Box::new(std::io::stdout().lock());
    let mut printer = Printer::new(
        dict,
        out,
        args.json,
        style,
        filters,
        Matcher::new(args.max_outstanding),
    );
    match open_input(args)? {
        Input::Text(text) => {
            let format = match args.format {
                Format::Auto => Format::Hex,
                f => f,
            };
            from_text(text, format, &mut printer)?
        }
        Input::Stream(mut r) => {
            let mut head = Vec::new();
            let eof = fill(&mut *r, &mut head, 4)?;
            let format = match args.format {
                Format::Auto if pcap::file::is_capture(&head) => Format::Pcap,
                f => f,
            };
            if format == Format::Pcap {
                let follow = args.follow && args.input.as_deref().is_some_and(|i| i != "-");
                from_capture(&mut *r, head, eof, follow, args.max_block, &mut printer)?;
            } else {
                if !eof {
                    r.read_to_end(&mut head)
                        .map_err(|e| CliError::usage(format!("cannot read the input: {e}")))?;
                }
                let format = match format {
                    Format::Auto if looks_like_text(&head) => Format::Hex,
                    Format::Auto => Format::Binary,
                    f => f,
                };
                from_text(head, format, &mut printer)?;
            }
        }
    }
    printer.finish()
}

fn filters(dict: &Dictionary, args: &DecodeArgs) -> Result<Filters, CliError> {
    let mut f = Filters::default();
    for c in &args.command {
        f.commands
            .push(filter::CommandFilter::parse(dict, c).map_err(CliError::usage)?);
    }
    f.sessions.clone_from(&args.session);
    f.result_codes.clone_from(&args.result_code);
    f.peers = args
        .peer
        .iter()
        .map(|p| filter::PeerFilter::parse(p))
        .collect();
    Ok(f)
}

/// Reads until `buf` holds at least `want` bytes or the input ends; true at its end.
fn fill(r: &mut dyn Read, buf: &mut Vec<u8>, want: usize) -> Result<bool, CliError> {
    let mut chunk = [0u8; 4096];
    while buf.len() < want {
        match r.read(&mut chunk) {
            Ok(0) => return Ok(true),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(CliError::usage(format!("cannot read the input: {e}"))),
        }
    }
    Ok(false)
}

/// The input: text given on the command line, or a file or standard input to read.
enum Input {
    Text(Vec<u8>),
    Stream(Box<dyn Read>),
}

fn open_input(args: &DecodeArgs) -> Result<Input, CliError> {
    match args.input.as_deref() {
        None | Some("-") => {
            if std::io::stdin().is_terminal() {
                return Err(CliError::usage(
                    "no input: give hex, a file, or pipe data into standard input (see --help)",
                ));
            }
            Ok(Input::Stream(Box::new(std::io::stdin())))
        }
        Some(s) if Path::new(s).is_file() => std::fs::File::open(s)
            .map(|f| Input::Stream(Box::new(f)))
            .map_err(|e| CliError::usage(format!("cannot read {s}: {e}"))),
        Some(s) if s.contains(['/', '\\']) || s.ends_with(".pcap") || s.ends_with(".pcapng") => {
            if hexin::parse(s).is_ok() {
                return Ok(Input::Text(s.as_bytes().to_vec()));
            }
            Err(CliError::usage(format!("{s}: no such file")))
        }
        Some(s) => Ok(Input::Text(s.as_bytes().to_vec())),
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

/// A hex dump or raw bytes, read whole.
fn from_text(data: Vec<u8>, format: Format, printer: &mut Printer<'_>) -> Result<(), CliError> {
    let bytes = match format {
        Format::Auto | Format::Hex if format == Format::Hex || looks_like_text(&data) => {
            let text = String::from_utf8_lossy(&data);
            hexin::parse(&text)
                .map_err(|e| CliError::usage(format!("the input is not a hex dump: {e}")))?
        }
        Format::Pcap => {
            return from_capture(
                &mut std::io::empty(),
                data,
                true,
                false,
                usize::MAX,
                printer,
            )
        }
        _ => data,
    };
    from_bytes(Bytes::from(bytes), printer);
    Ok(())
}

/// Cuts raw bytes into messages and decodes each.
fn from_bytes(data: Bytes, printer: &mut Printer<'_>) {
    let limits = Limits::default();
    let mut at = 0;
    while at < data.len() {
        let rest = &data[at..];
        let problem = match frame_len(rest, &limits) {
            Ok(Some(len)) if len <= rest.len() => {
                printer.built(
                    tree::build_with(printer.dict, data.slice(at..at + len), at),
                    Source::default(),
                );
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
        printer.problem(
            Problem {
                offset: at,
                what: problem,
            },
            &Source::default(),
        );
        break;
    }
}

/// Decodes a capture as its bytes arrive, printing each message once its last segment is in.
fn from_capture(
    r: &mut dyn Read,
    mut buf: Vec<u8>,
    mut eof: bool,
    follow: bool,
    max_block: usize,
    printer: &mut Printer<'_>,
) -> Result<(), CliError> {
    let mut reader = pcap::file::Reader::new(max_block);
    let mut stream = pcap::Stream::default();
    let mut chunk = vec![0u8; CHUNK];
    let damage = loop {
        let mut start = 0;
        let damage = loop {
            match reader.next(&buf[start..], eof) {
                Ok((Some(p), used)) => {
                    start += used;
                    for item in stream.packet(&p) {
                        printer.item(item);
                    }
                }
                Ok((None, used)) => {
                    start += used;
                    break None;
                }
                Err(e) => break Some(e),
            }
        };
        printer.flush();
        if damage.is_some() || eof {
            break damage;
        }
        buf.drain(..start);
        match r.read(&mut chunk) {
            Ok(0) if follow => std::thread::sleep(FOLLOW_POLL),
            Ok(0) => eof = true,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                eprintln!("error: cannot read the input: {e}");
                eof = true;
            }
        }
    };
    for item in stream.finish() {
        printer.item(item);
    }
    if let Some(e) = damage {
        if printer.decoded == 0 {
            return Err(CliError::usage(format!("cannot read the capture: {e}")));
        }
        printer.problem(
            Problem {
                offset: e.offset,
                what: format!("the capture file is damaged: {}", e.what),
            },
            &Source::default(),
        );
    }
    printer.flush();
    Ok(())
}
