//! Link, IP and TCP headers: from a captured frame to a TCP segment.

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
    /// FIN or RST flag.
    pub fin: bool,
    /// The payload.
    pub payload: &'a [u8],
}

/// The TCP segment in a frame of the given link type, if it carries one.
pub fn tcp_segment(linktype: u32, frame: &[u8]) -> Option<Segment<'_>> {
    let (ethertype, ip) = link(linktype, frame)?;
    match ethertype {
        0x0800 => ipv4(ip),
        0x86dd => ipv6(ip),
        _ => None,
    }
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

fn ipv4(p: &[u8]) -> Option<Segment<'_>> {
    let ihl = usize::from(p.first()? & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes(p.get(2..4)?.try_into().ok()?));
    let frag = u16::from_be_bytes(p.get(6..8)?.try_into().ok()?);
    if *p.get(9)? != 6 || frag & 0x3fff != 0 || ihl < 20 {
        return None; // not TCP, or a fragment
    }
    let src: [u8; 4] = p.get(12..16)?.try_into().ok()?;
    let dst: [u8; 4] = p.get(16..20)?.try_into().ok()?;
    // Trim Ethernet padding; tolerate a zero total length (TSO captures).
    let end = if total >= ihl {
        total.min(p.len())
    } else {
        p.len()
    };
    tcp(
        IpAddr::V4(Ipv4Addr::from(src)),
        IpAddr::V4(Ipv4Addr::from(dst)),
        p.get(ihl..end)?,
    )
}

fn ipv6(p: &[u8]) -> Option<Segment<'_>> {
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
            6 => {
                return tcp(
                    IpAddr::V6(Ipv6Addr::from(src)),
                    IpAddr::V6(Ipv6Addr::from(dst)),
                    p.get(at..end)?,
                )
            }
            0 | 43 | 60 => {
                next = *p.get(at)?;
                at += (usize::from(*p.get(at + 1)?) + 1) * 8;
            }
            _ => return None,
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
        fin: flags & 0x05 != 0,
        payload: t.get(off..).unwrap_or(&[]),
    })
}
