//! Diameter over TCP and SCTP in pcap and pcapng captures: file reading, packet headers,
//! stream reassembly and message framing.

pub mod file;
pub mod net;
pub mod reassembly;
pub mod sctp;

pub use reassembly::{Item, Meta};

/// Reads a capture and returns every Diameter message and framing problem, in capture order,
/// plus an error if the file itself is damaged.
pub fn messages(data: &[u8]) -> (Vec<Item>, Option<file::FileError>) {
    let (packets, file_error) = file::read(data);
    let mut r = reassembly::Reassembler::default();
    let mut s = sctp::SctpReassembler::default();
    let mut items = Vec::new();
    for p in &packets {
        let time = (p.ts_sec, p.ts_nsec);
        if let Some(seg) = net::tcp_segment(p.linktype, p.data) {
            items.extend(r.push(&seg, p.frame, time));
        } else if let Some(pkt) = net::sctp_packet(p.linktype, p.data) {
            items.extend(s.push(&pkt, p.frame, time));
        }
    }
    items.extend(r.finish());
    (items, file_error)
}
