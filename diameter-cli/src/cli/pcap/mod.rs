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
    let mut stream = Stream::default();
    let mut items = Vec::new();
    for p in &packets {
        items.extend(stream.packet(p));
    }
    items.extend(stream.finish());
    (items, file_error)
}

/// Diameter messages out of captured packets, one packet at a time: TCP flows reassembled
/// and framed, SCTP fragments joined.
#[derive(Default)]
pub struct Stream {
    tcp: reassembly::Reassembler,
    sctp: sctp::SctpReassembler,
}

impl Stream {
    /// Feeds one packet; returns the messages and problems it completes.
    pub fn packet(&mut self, p: &file::Packet<'_>) -> Vec<Item> {
        let time = (p.ts_sec, p.ts_nsec);
        if let Some(seg) = net::tcp_segment(p.linktype, p.data) {
            self.tcp.push(&seg, p.frame, time)
        } else if let Some(pkt) = net::sctp_packet(p.linktype, p.data) {
            self.sctp.push(&pkt, p.frame, time)
        } else {
            Vec::new()
        }
    }

    /// At the end of the capture: what the flows still hold.
    pub fn finish(&mut self) -> Vec<Item> {
        self.tcp.finish()
    }
}
