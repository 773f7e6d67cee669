//! Link, IP, TCP and SCTP headers: from a captured frame to a TCP segment or SCTP chunks.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// A TCP segment with its addresses.
#[derive(Clone, Debug)]
pub struct Segment<'a> {
    /// Source address and port.
    pub src: SocketAddr,
    /// Destination address and port.
    pub dst: SocketAddr,
    /// Sequence number of the first payload byte.
    pub seq: u32,
    /// SYN flag.
    pub syn: bool,
    /// FIN flag: the sender has no more data after this segment's payload.
    pub fin: bool,
    /// RST flag: the connection is aborted.
    pub rst: bool,
    /// The payload.
    pub payload: &'a [u8],
}

/// An IP packet's addresses, protocol and payload.
struct Ip<'a> {
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    payload: &'a [u8],
}

fn ip(linktype: u32, frame: &[u8]) -> Option<Ip<'_>> {
    let (ethertype, ip) = link(linktype, frame)?;
    match ethertype {
        0x0800 => ipv4(ip),
        0x86dd => ipv6(ip),
        _ => None,
    }
}

/// The TCP segment in a frame of the given link type, if it carries one.
pub fn tcp_segment(linktype: u32, frame: &[u8]) -> Option<Segment<'_>> {
    let p = ip(linktype, frame)?;
    if p.proto != 6 {
        return None;
    }
    tcp(p.src, p.dst, p.payload)
}

/// One SCTP DATA chunk.
#[derive(Clone, Debug)]
pub struct DataChunk<'a> {
    /// Transmission sequence number.
    pub tsn: u32,
    /// Stream identifier.
    pub stream: u16,
    /// B (first fragment) flag.
    pub begin: bool,
    /// E (last fragment) flag.
    pub end: bool,
    /// Payload protocol identifier (46 for Diameter, 47 for Diameter over DTLS).
    pub ppid: u32,
    /// The user data.
    pub data: &'a [u8],
}

/// An SCTP packet's addresses and DATA chunks.
#[derive(Clone, Debug)]
pub struct SctpPacket<'a> {
    /// Source address and port.
    pub src: SocketAddr,
    /// Destination address and port.
    pub dst: SocketAddr,
    /// The DATA chunks, in packet order.
    pub chunks: Vec<DataChunk<'a>>,
}

/// The SCTP DATA chunks in a frame, if it carries SCTP.
pub fn sctp_packet(linktype: u32, frame: &[u8]) -> Option<SctpPacket<'_>> {
    let p = ip(linktype, frame)?;
    if p.proto != 132 {
        return None;
    }
    let t = p.payload;
    let sport = u16::from_be_bytes(t.get(0..2)?.try_into().ok()?);
    let dport = u16::from_be_bytes(t.get(2..4)?.try_into().ok()?);
    let mut chunks = Vec::new();
    let mut at = 12;
    while let Some(h) = t.get(at..at + 4) {
        let kind = h[0];
        let flags = h[1];
        let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
        if len < 4 {
            break;
        }
        let body = t.get(at + 4..(at + len).min(t.len()))?;
        if kind == 0 && body.len() >= 12 {
            chunks.push(DataChunk {
                tsn: u32::from_be_bytes(body[0..4].try_into().ok()?),
                stream: u16::from_be_bytes(body[4..6].try_into().ok()?),
                begin: flags & 0x02 != 0,
                end: flags & 0x01 != 0,
                ppid: u32::from_be_bytes(body[8..12].try_into().ok()?),
                data: &body[12..],
            });
        }
        at += len + (4 - len % 4) % 4;
    }
    Some(SctpPacket {
        src: SocketAddr::new(p.src, sport),
        dst: SocketAddr::new(p.dst, dport),
        chunks,
    })
}

/// Strips the link header: the ethertype of the payload and the payload.
fn link(linktype: u32, f: &[u8]) -> Option<(u16, &[u8])> {
    let be16 = |b: &[u8], at: usize| Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?));
    match linktype {
        // Ethernet, with any number of VLAN tags.
        1 => {
            let mut at = 12;
            let mut t = be16(f, at)?;
            while matches!(t, 0x8100 | 0x88a8 | 0x9100) {
                at += 4;
                t = be16(f, at)?;
            }
            Some((t, f.get(at + 2..)?))
        }
        // BSD loopback: 4-byte address family in host (0) or network (108) order.
        0 | 108 => {
            let fam = f.get(..4)?;
            let v = if linktype == 108 || fam[0] == 0 {
                u32::from_be_bytes(fam.try_into().ok()?)
            } else {
                u32::from_le_bytes(fam.try_into().ok()?)
            };
            let t = match v {
                2 => 0x0800,
                24 | 28 | 30 => 0x86dd,
                _ => return None,
            };
            Some((t, f.get(4..)?))
        }
        // Raw IP.
        12 | 14 | 101 => {
            let t = match f.first()? >> 4 {
                4 => 0x0800,
                6 => 0x86dd,
                _ => return None,
            };
            Some((t, f))
        }
        // Linux cooked capture v1 and v2.
        113 => Some((be16(f, 14)?, f.get(16..)?)),
        276 => Some((be16(f, 0)?, f.get(20..)?)),
        _ => None,
    }
}

fn ipv4(p: &[u8]) -> Option<Ip<'_>> {
    let ihl = usize::from(p.first()? & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes(p.get(2..4)?.try_into().ok()?));
    let frag = u16::from_be_bytes(p.get(6..8)?.try_into().ok()?);
    let proto = *p.get(9)?;
    if frag & 0x3fff != 0 || ihl < 20 {
        return None; // a fragment
    }
    let src: [u8; 4] = p.get(12..16)?.try_into().ok()?;
    let dst: [u8; 4] = p.get(16..20)?.try_into().ok()?;
    // Trim Ethernet padding; tolerate a zero total length (TSO captures).
    let end = if total >= ihl {
        total.min(p.len())
    } else {
        p.len()
    };
    Some(Ip {
        src: IpAddr::V4(Ipv4Addr::from(src)),
        dst: IpAddr::V4(Ipv4Addr::from(dst)),
        proto,
        payload: p.get(ihl..end)?,
    })
}

fn ipv6(p: &[u8]) -> Option<Ip<'_>> {
    let payload_len = usize::from(u16::from_be_bytes(p.get(4..6)?.try_into().ok()?));
    let src: [u8; 16] = p.get(8..24)?.try_into().ok()?;
    let dst: [u8; 16] = p.get(24..40)?.try_into().ok()?;
    let mut next = *p.get(6)?;
    let end = if payload_len == 0 {
        p.len()
    } else {
        (40 + payload_len).min(p.len())
    };
    let mut at = 40;
    // Skip hop-by-hop, routing and destination options headers; give up on fragments.
    for _ in 0..8 {
        match next {
            0 | 43 | 60 => {
                next = *p.get(at)?;
                at += (usize::from(*p.get(at + 1)?) + 1) * 8;
            }
            44 => return None, // a fragment
            proto => {
                return Some(Ip {
                    src: IpAddr::V6(Ipv6Addr::from(src)),
                    dst: IpAddr::V6(Ipv6Addr::from(dst)),
                    proto,
                    payload: p.get(at..end)?,
                })
            }
        }
    }
    None
}

fn tcp(src: IpAddr, dst: IpAddr, t: &[u8]) -> Option<Segment<'_>> {
    let sport = u16::from_be_bytes(t.get(0..2)?.try_into().ok()?);
    let dport = u16::from_be_bytes(t.get(2..4)?.try_into().ok()?);
    let seq = u32::from_be_bytes(t.get(4..8)?.try_into().ok()?);
    let off = usize::from(t.get(12)? >> 4) * 4;
    let flags = *t.get(13)?;
    if off < 20 {
        return None;
    }
    Some(Segment {
        src: SocketAddr::new(src, sport),
        dst: SocketAddr::new(dst, dport),
        seq,
        syn: flags & 0x02 != 0,
        fin: flags & 0x01 != 0,
        rst: flags & 0x04 != 0,
        payload: t.get(off..).unwrap_or(&[]),
    })
}
