//! Diameter over SCTP (RFC 6733 §2.1, PPID 46): DATA chunks keep message boundaries, so a
//! message is one unfragmented chunk or the fragments B…E of one stream, in TSN order.
//! Retransmitted chunks (a TSN seen before) are dropped.

use super::net::SctpPacket;
use super::reassembly::{plausible, Item, Meta};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;

/// Diameter's payload protocol identifier.
pub const PPID_DIAMETER: u32 = 46;

/// TSNs remembered per direction for retransmission detection.
const MAX_SEEN: usize = 100_000;

type Dir = (SocketAddr, SocketAddr);

/// Reassembles Diameter messages from SCTP DATA chunks.
#[derive(Default)]
pub struct SctpReassembler {
    seen: HashMap<Dir, HashSet<u32>>,
    fragments: HashMap<(SocketAddr, SocketAddr, u16), (u32, Vec<u8>)>,
}

impl SctpReassembler {
    /// Feeds one packet; returns the messages (and problems) it completes.
    pub fn push(&mut self, p: &SctpPacket<'_>, frame: u64, time: (i64, u32)) -> Vec<Item> {
        let mut out = Vec::new();
        for c in &p.chunks {
            let seen = self.seen.entry((p.src, p.dst)).or_default();
            if seen.len() > MAX_SEEN {
                seen.clear();
            }
            if !seen.insert(c.tsn) {
                continue; // a retransmission
            }
            let key = (p.src, p.dst, c.stream);
            let meta = |tsn: u32| Meta {
                frame,
                time,
                src: p.src,
                dst: p.dst,
                stream_offset: 0,
                sctp: Some((c.stream, tsn)),
            };
            let diameter =
                |data: &[u8]| c.ppid == PPID_DIAMETER || (c.ppid == 0 && plausible(data));
            match (c.begin, c.end) {
                (true, true) => {
                    if diameter(c.data) {
                        out.push(Item::Message(meta(c.tsn), c.data.to_vec()));
                    }
                }
                (true, false) => {
                    if diameter(c.data) {
                        self.fragments.insert(key, (c.tsn, c.data.to_vec()));
                    }
                }
                (false, end) => {
                    let Some((first, mut buf)) = self.fragments.remove(&key) else {
                        continue; // the start was not captured, or not Diameter
                    };
                    buf.extend_from_slice(c.data);
                    if end {
                        out.push(Item::Message(meta(first), buf));
                    } else if buf.len() > 1 << 20 {
                        out.push(Item::Problem(
                            meta(first),
                            "an SCTP message grew past 1 MiB without its last fragment".into(),
                        ));
                    } else {
                        self.fragments.insert(key, (first, buf));
                    }
                }
            }
        }
        out
    }
}
