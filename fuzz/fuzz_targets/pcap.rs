//! `diameter decode` of a capture: pcap/pcapng file reading, link/IP/TCP/SCTP headers,
//! TCP reassembly, SCTP fragment joining, message framing, then the decoded tree rendered
//! as text and JSON. Must never panic, and must not make more message bytes than it read.
#![no_main]

use diameter::core::bytes::Bytes;
use diameter_cli::cli::decode::{json, text, tree, Source};
use diameter_cli::cli::pcap::{self, Item};
use diameter_cli::cli::style::Style;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = pcap::file::is_capture(data);
    // Read as a live pipe would deliver it (a few bytes at a time), the capture yields the
    // same packets as read whole.
    let (whole, _) = pcap::file::read(data);
    let mut reader = pcap::file::Reader::default();
    let (mut buf, mut pieces, mut frames) = (Vec::new(), data.chunks(7), Vec::new());
    'feed: loop {
        let piece = pieces.next();
        buf.extend_from_slice(piece.unwrap_or(&[]));
        loop {
            match reader.next(&buf, piece.is_none()) {
                Ok((Some(p), used)) => {
                    frames.push((p.frame, p.data.to_vec()));
                    buf.drain(..used);
                }
                Ok((None, used)) => {
                    buf.drain(..used);
                    break;
                }
                Err(_) => break 'feed,
            }
        }
        if piece.is_none() {
            break;
        }
    }
    let whole: Vec<(u64, Vec<u8>)> = whole.iter().map(|p| (p.frame, p.data.to_vec())).collect();
    assert_eq!(frames, whole, "pieces and the whole file disagree");
    let (items, file_error) = pcap::messages(data);
    if let Some(e) = file_error {
        assert!(
            e.offset <= data.len(),
            "error offset {} past the end",
            e.offset
        );
        let _ = e.to_string();
    }
    let style = Style::plain();
    let mut produced = 0usize;
    for item in items {
        match item {
            Item::Message(meta, bytes) => {
                produced += bytes.len();
                if meta.sctp.is_none() {
                    // TCP messages are cut by their own length field.
                    assert!(bytes.len() >= 20, "a framed message shorter than a header");
                    let len = u32::from_be_bytes([0, bytes[1], bytes[2], bytes[3]]) as usize;
                    assert_eq!(len, bytes.len(), "a framed message of the wrong length");
                }
                let at = meta.stream_offset as usize;
                let src = Source::packet(meta);
                let _ = src.describe();
                if let Ok(m) = tree::build(Bytes::from(bytes), at) {
                    let _ = m.problems();
                    let _ = m.result_code();
                    let _ = text::render(&m, &src, &style);
                    let _ = json::message(&m, &src);
                }
            }
            Item::Problem(meta, what) => {
                assert!(!what.is_empty());
                let _ = Source::packet(meta).describe();
            }
        }
    }
    // Every message byte comes from a packet payload, used once.
    assert!(
        produced <= data.len(),
        "{produced} message bytes out of a {}-byte capture",
        data.len()
    );
});
