//! TCP stream reassembly per flow and Diameter framing of the streams.
//!
//! Segments are put in sequence order (retransmissions trimmed, out-of-order segments
//! held), each flow's bytes are cut into messages by their length field, and several
//! messages per segment or one message over many segments both work. A flow that does not
//! start at a message boundary (capture begun mid-stream) or carries something else is
//! re-synchronised at the next segment that starts with a plausible Diameter header.

use super::net::Segment;
use diameter_core::message::{frame_len, Limits};
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// Segments held out of order per flow before the gap is given up.
const MAX_PENDING: usize = 1024;

/// Where and when a message or problem was seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meta {
    /// Frame number of the segment that completed the message.
    pub frame: u64,
    /// Capture time of that frame: Unix seconds and nanoseconds.
    pub time: (i64, u32),
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// Offset of the message in its flow's byte stream (TCP; 0 for SCTP).
    pub stream_offset: u64,
    /// SCTP stream identifier and TSN of the message's first fragment (SCTP only).
    pub sctp: Option<(u16, u32)>,
}

/// What the reassembler produces.
#[derive(Clone, Debug)]
pub enum Item {
    /// A whole message's bytes.
    Message(Meta, Vec<u8>),
    /// A framing problem in a flow.
    Problem(Meta, String),
}

/// One direction of one TCP connection.
#[derive(Default)]
struct Flow {
    /// Sequence number of the SYN that opened this connection, when it was captured.
    isn: Option<u32>,
    next_seq: Option<u32>,
    /// Sequence number just past the sender's last byte, once its FIN was seen.
    fin_seq: Option<u32>,
    /// The connection ended (FIN reached, RST): what was left has been reported.
    ended: bool,
    pending: BTreeMap<u32, Vec<u8>>,
    buf: Vec<u8>,
    /// Stream offset of `buf[0]`.
    buf_at: u64,
    /// Stream offset of the next in-order byte.
    stream_at: u64,
    synced: bool,
    seen_diameter: bool,
    /// Frame number and time of the flow's latest segment, for problems found later.
    last: (u64, (i64, u32)),
}

/// Reassembles the TCP flows of a capture.
///
/// Connections are told apart the way tshark does: a SYN starts a new flow for its 4-tuple
/// (the old one, if any, ends there), and FIN or RST ends one. So a peer that reconnects
/// from the same port gets a fresh stream whatever its new initial sequence number is.
pub struct Reassembler {
    flows: BTreeMap<(SocketAddr, SocketAddr), Flow>,
    limits: Limits,
    max_flows: usize,
    /// Size at which ended flows are next swept (at least `max_flows`; twice the flows left
    /// after a sweep, so a capture with many open flows is not swept at every new one).
    sweep_at: usize,
}

/// Flows remembered by default before the ended ones are forgotten (a live capture of many
/// short connections would otherwise grow without bound).
pub const DEFAULT_MAX_FLOWS: usize = 100_000;

impl Default for Reassembler {
    fn default() -> Self {
        Reassembler::new(DEFAULT_MAX_FLOWS)
    }
}

/// Whether bytes start with something that looks like a Diameter header.
pub fn plausible(b: &[u8]) -> bool {
    if b.len() < 20 || b[0] != 1 {
        return false;
    }
    let len = u32::from_be_bytes([0, b[1], b[2], b[3]]);
    let ok_len = len >= 20 && len & 3 == 0 && len <= 1 << 20;
    let ok_flags = b[4] & 0x0f == 0;
    let ok_avp = len < 28 || b.len() < 28 || u32::from_be_bytes([0, b[25], b[26], b[27]]) >= 8;
    ok_len && ok_flags && ok_avp
}

/// A function that places a problem or message at a stream offset.
type MetaAt<'a> = &'a dyn Fn(u64) -> Meta;

impl Reassembler {
    /// A reassembler that forgets ended flows once it holds more than `max_flows` (an ended
    /// flow is kept only so that late retransmissions of its bytes are ignored).
    pub fn new(max_flows: usize) -> Self {
        Reassembler {
            flows: BTreeMap::new(),
            limits: Limits::default(),
            max_flows,
            sweep_at: max_flows,
        }
    }

    /// Forgets ended flows when the table has reached its sweep size.
    fn sweep(&mut self) {
        if self.flows.len() >= self.sweep_at {
            self.flows.retain(|_, f| !f.ended);
            self.sweep_at = self.max_flows.max(2 * self.flows.len());
        }
    }

    /// Flows held now, ended ones included.
    pub fn flows(&self) -> usize {
        self.flows.len()
    }

    /// Feeds one segment; returns the messages and problems it completes.
    pub fn push(&mut self, seg: &Segment<'_>, frame: u64, time: (i64, u32)) -> Vec<Item> {
        let mut out = Vec::new();
        let key = (seg.src, seg.dst);
        let meta = |at: u64| Meta {
            frame,
            time,
            src: seg.src,
            dst: seg.dst,
            stream_offset: at,
            sctp: None,
        };
        if seg.syn && !seg.rst {
            let retransmitted = self.flows.get(&key).is_some_and(|f| f.isn == Some(seg.seq));
            if !retransmitted {
                // A new connection on this 4-tuple: whatever the old one left is reported
                // where it was last seen, and the new one starts at offset 0.
                if let Some(mut old) = self.flows.remove(&key) {
                    let (f, t) = old.last;
                    let old_meta = |at: u64| Meta {
                        frame: f,
                        time: t,
                        ..meta(at)
                    };
                    end(
                        &mut old,
                        &self.limits,
                        &mut out,
                        &old_meta,
                        "the connection",
                    );
                }
                self.sweep();
                self.flows.insert(
                    key,
                    Flow {
                        isn: Some(seg.seq),
                        next_seq: Some(seg.seq.wrapping_add(1)),
                        ..Flow::default()
                    },
                );
            }
        }
        if !self.flows.contains_key(&key) {
            self.sweep();
        }
        let flow = self.flows.entry(key).or_default();
        flow.last = (frame, time);
        let start = if seg.syn {
            seg.seq.wrapping_add(1)
        } else {
            seg.seq
        };
        let next = *flow.next_seq.get_or_insert(start);
        if seg.fin && !flow.ended {
            flow.fin_seq = Some(start.wrapping_add(seg.payload.len() as u32));
        }
        if !seg.payload.is_empty() && !flow.ended {
            let diff = start.wrapping_sub(next) as i32;
            if diff > 0 {
                flow.pending.insert(start, seg.payload.to_vec());
                if flow.pending.len() > MAX_PENDING {
                    skip_gap(flow, &mut out, &meta);
                }
            } else {
                let skip = diff.unsigned_abs() as usize;
                if skip < seg.payload.len() {
                    append(flow, &seg.payload[skip..]);
                }
            }
            drain_pending(flow);
            extract(flow, &self.limits, &mut out, &meta);
        }
        let fin_reached = flow.fin_seq.is_some() && flow.fin_seq == flow.next_seq;
        if (fin_reached || seg.rst) && !flow.ended {
            end(flow, &self.limits, &mut out, &meta, "the connection");
        }
        out
    }

    /// At the end of the capture: gives up on missing segments and returns what follows them.
    pub fn finish(&mut self) -> Vec<Item> {
        let mut out = Vec::new();
        for ((src, dst), flow) in self.flows.iter_mut() {
            let (frame, time) = flow.last;
            let meta = |at: u64| Meta {
                frame,
                time,
                src: *src,
                dst: *dst,
                stream_offset: at,
                sctp: None,
            };
            end(flow, &self.limits, &mut out, &meta, "the capture");
        }
        out
    }
}

/// Ends a flow: gives up on missing segments, frames what follows them, and reports a
/// message the flow stopped inside. Later segments of the same connection are ignored.
fn end(flow: &mut Flow, limits: &Limits, out: &mut Vec<Item>, meta: MetaAt<'_>, what: &str) {
    if flow.ended {
        return;
    }
    while !flow.pending.is_empty() {
        skip_gap(flow, out, meta);
        drain_pending(flow);
        extract(flow, limits, out, meta);
    }
    if flow.synced && !flow.buf.is_empty() && flow.seen_diameter {
        out.push(Item::Problem(
            meta(flow.buf_at),
            format!(
                "{what} ends inside a message: {} bytes of it were captured",
                flow.buf.len()
            ),
        ));
    }
    flow.buf.clear();
    flow.synced = false;
    flow.ended = true;
}

/// Appends in-order bytes, re-synchronising an unsynced flow at a plausible header.
fn append(flow: &mut Flow, data: &[u8]) {
    let at = flow.stream_at;
    flow.stream_at += data.len() as u64;
    flow.next_seq = flow.next_seq.map(|s| s.wrapping_add(data.len() as u32));
    if !flow.synced {
        if plausible(data) {
            flow.synced = true;
            flow.buf.clear();
            flow.buf_at = at;
        } else {
            return;
        }
    }
    flow.buf.extend_from_slice(data);
}

/// Moves held segments that are now in order into the stream.
fn drain_pending(flow: &mut Flow) {
    loop {
        let Some(next) = flow.next_seq else { return };
        let mut found = None;
        for (&seq, data) in &flow.pending {
            let diff = seq.wrapping_sub(next) as i32;
            if diff <= 0 {
                found = Some((seq, diff.unsigned_abs() as usize, data.len()));
                break;
            }
        }
        let Some((seq, skip, len)) = found else {
            return;
        };
        let data = flow.pending.remove(&seq).unwrap_or_default();
        if skip < len {
            append(flow, &data[skip..]);
        }
    }
}

/// Gives up on the bytes before the earliest held segment.
fn skip_gap(flow: &mut Flow, out: &mut Vec<Item>, meta: MetaAt<'_>) {
    let Some(next) = flow.next_seq else { return };
    let Some(gap) = flow.pending.keys().map(|&s| s.wrapping_sub(next)).min() else {
        return;
    };
    if flow.seen_diameter {
        out.push(Item::Problem(
            meta(flow.stream_at),
            format!("{gap} bytes of the stream are missing from the capture"),
        ));
    }
    flow.next_seq = Some(next.wrapping_add(gap));
    flow.stream_at += u64::from(gap);
    flow.synced = false;
    flow.buf.clear();
}

/// Cuts whole messages off the front of the flow's buffer.
fn extract(flow: &mut Flow, limits: &Limits, out: &mut Vec<Item>, meta: MetaAt<'_>) {
    let mut used = 0;
    while flow.synced {
        let rest = &flow.buf[used..];
        match frame_len(rest, limits) {
            Ok(Some(len)) if len <= rest.len() => {
                out.push(Item::Message(
                    meta(flow.buf_at + used as u64),
                    rest[..len].to_vec(),
                ));
                flow.seen_diameter = true;
                used += len;
            }
            Ok(_) => break,
            Err(e) => {
                if flow.seen_diameter {
                    out.push(Item::Problem(
                        meta(flow.buf_at + used as u64),
                        format!(
                            "cannot frame the stream ({}); skipping to the next segment that starts with a Diameter header",
                            e.kind
                        ),
                    ));
                }
                flow.synced = false;
                used = flow.buf.len();
            }
        }
    }
    flow.buf.drain(..used);
    flow.buf_at += used as u64;
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: &str = "10.0.0.1:40000";
    const S: &str = "10.0.0.2:3868";

    /// A 28-byte Diameter message (header and one 8-byte AVP) with this hop-by-hop id.
    fn msg(hbh: u8) -> Vec<u8> {
        let mut m = vec![
            1, 0, 0, 28, 0x80, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, hbh, 0, 0, 0, 1,
        ];
        m.extend([0, 0, 1, 8, 0x40, 0, 0, 8]);
        m
    }

    fn seg<'a>(seq: u32, flags: &str, payload: &'a [u8]) -> Segment<'a> {
        Segment {
            src: C.parse().expect("addr"),
            dst: S.parse().expect("addr"),
            seq,
            syn: flags.contains('S'),
            fin: flags.contains('F'),
            rst: flags.contains('R'),
            payload,
        }
    }

    fn summary(items: &[Item]) -> Vec<(u64, u64, &str)> {
        items
            .iter()
            .map(|i| match i {
                Item::Message(m, _) => (m.frame, m.stream_offset, "message"),
                Item::Problem(m, _) => (m.frame, m.stream_offset, "problem"),
            })
            .collect()
    }

    /// A connection closed by FIN in the middle of a message: the problem is reported at the
    /// FIN's frame and time, and the next connection on the tuple starts afresh.
    #[test]
    fn fin_inside_a_message_is_reported_at_the_fin() {
        let m = msg(1);
        let mut r = Reassembler::default();
        let mut out = r.push(&seg(100, "S", &[]), 1, (10, 0));
        out.extend(r.push(&seg(101, "", &m), 2, (11, 0)));
        out.extend(r.push(&seg(129, "", &m[..10]), 3, (12, 0)));
        out.extend(r.push(&seg(139, "F", &[]), 4, (13, 0)));
        // Retransmissions of the old connection's bytes are ignored once it ended.
        out.extend(r.push(&seg(129, "", &m), 5, (14, 0)));
        out.extend(r.push(&seg(7, "S", &[]), 6, (15, 0)));
        out.extend(r.push(&seg(8, "", &m), 7, (16, 0)));
        out.extend(r.finish());
        assert_eq!(
            summary(&out),
            [(2, 0, "message"), (4, 28, "problem"), (7, 0, "message")]
        );
        let Item::Problem(meta, what) = &out[1] else {
            unreachable!()
        };
        assert_eq!(meta.time, (13, 0));
        assert!(
            what.contains("the connection ends inside a message"),
            "{what}"
        );
    }

    /// Past the limit, ended flows are forgotten; open ones are kept.
    #[test]
    fn ended_flows_are_forgotten_past_the_limit() {
        let m = msg(3);
        let mut r = Reassembler::new(4);
        for port in 0..10u16 {
            let mut s = seg(100, "S", &[]);
            s.src.set_port(50000 + port);
            r.push(&s, 1, (1, 0));
            let mut d = seg(101, "F", &m);
            d.src.set_port(50000 + port);
            assert_eq!(summary(&r.push(&d, 2, (2, 0))), [(2, 0, "message")]);
            assert!(r.flows() <= 4, "{}", r.flows());
        }
        let mut open = Reassembler::new(2);
        for port in 0..5u16 {
            let mut s = seg(100, "S", &[]);
            s.src.set_port(50000 + port);
            open.push(&s, 1, (1, 0));
        }
        assert_eq!(open.flows(), 5, "open flows are never dropped");
    }

    /// RST ends a flow; a retransmitted SYN (same initial sequence number) does not reset it;
    /// what the capture ends inside is reported at the flow's last frame, not frame 0.
    #[test]
    fn rst_retransmitted_syn_and_capture_end() {
        let m = msg(2);
        let mut r = Reassembler::default();
        let mut out = r.push(&seg(100, "S", &[]), 1, (10, 0));
        out.extend(r.push(&seg(101, "", &m[..20]), 2, (11, 0)));
        out.extend(r.push(&seg(100, "S", &[]), 3, (12, 0)));
        out.extend(r.push(&seg(121, "", &m[20..]), 4, (13, 0)));
        out.extend(r.push(&seg(129, "R", &[]), 5, (14, 0)));
        out.extend(r.push(&seg(129, "", &m), 6, (15, 0)));
        assert_eq!(summary(&out), [(4, 0, "message")]);
        let mut r = Reassembler::default();
        let mut out = r.push(&seg(100, "S", &[]), 1, (10, 0));
        out.extend(r.push(&seg(101, "", &m), 2, (11, 0)));
        out.extend(r.push(&seg(129, "", &m[..20]), 3, (11, 5)));
        out.extend(r.finish());
        assert_eq!(summary(&out), [(2, 0, "message"), (3, 28, "problem")]);
        let Item::Problem(meta, what) = &out[1] else {
            unreachable!()
        };
        assert_eq!(meta.time, (11, 5));
        assert!(what.contains("the capture ends inside"), "{what}");
    }
}
