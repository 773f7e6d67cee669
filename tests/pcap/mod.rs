//! A minimal pcap writer for Diameter over TCP: one connection (handshake included) between
//! a client and a server on port 3868, LINKTYPE_RAW (IPv4 packets without a link layer).
#![allow(dead_code)]

use std::net::Ipv4Addr;

/// LINKTYPE_RAW: the packet starts with the IP header.
const LINKTYPE_RAW: u32 = 101;
/// The Diameter port (RFC 6733 §2.1).
pub const DIAMETER_PORT: u16 = 3868;
/// Largest TCP payload per segment (Ethernet MTU 1500 less IPv4 and TCP headers).
const MSS: usize = 1460;

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

/// One direction of the TCP connection.
struct End {
    addr: Ipv4Addr,
    port: u16,
    /// Next sequence number to send.
    seq: u32,
}

/// A capture being written: call [`Pcap::send`] for each Diameter message, then
/// [`Pcap::finish`] for the file bytes.
pub struct Pcap {
    out: Vec<u8>,
    client: End,
    server: End,
    /// Microseconds since the start of the capture.
    clock_us: u64,
    ip_id: u16,
}

impl Default for Pcap {
    fn default() -> Self {
        Self::new()
    }
}

impl Pcap {
    /// A capture of one connection from 192.0.2.1 to 192.0.2.2:3868, opened by a handshake.
    pub fn new() -> Self {
        let mut out = Vec::new();
        out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes()); // magic, microsecond stamps
        out.extend_from_slice(&2u16.to_le_bytes()); // version 2.4
        out.extend_from_slice(&4u16.to_le_bytes());
        out.extend_from_slice(&0i32.to_le_bytes()); // thiszone
        out.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
        out.extend_from_slice(&65_535u32.to_le_bytes()); // snaplen
        out.extend_from_slice(&LINKTYPE_RAW.to_le_bytes());
        let mut p = Pcap {
            out,
            client: End {
                addr: Ipv4Addr::new(192, 0, 2, 1),
                port: 49_152,
                seq: 1_000,
            },
            server: End {
                addr: Ipv4Addr::new(192, 0, 2, 2),
                port: DIAMETER_PORT,
                seq: 5_000,
            },
            clock_us: 1_700_000_000_000_000,
            ip_id: 1,
        };
        p.segment(true, SYN, &[]);
        p.segment(false, SYN | ACK, &[]);
        p.segment(true, ACK, &[]);
        p
    }

    /// Sends one message, from the client (requests) or the server (answers), split into
    /// segments of at most one MSS, and has the other side acknowledge it.
    pub fn send(&mut self, from_client: bool, message: &[u8]) {
        for chunk in message.chunks(MSS) {
            self.segment(from_client, PSH | ACK, chunk);
        }
        self.segment(!from_client, ACK, &[]);
    }

    /// The file bytes, after closing the connection.
    pub fn finish(mut self) -> Vec<u8> {
        self.segment(true, FIN | ACK, &[]);
        self.segment(false, FIN | ACK, &[]);
        self.segment(true, ACK, &[]);
        self.out
    }

    fn segment(&mut self, from_client: bool, flags: u8, payload: &[u8]) {
        let (src, dst) = if from_client {
            (&self.client, &self.server)
        } else {
            (&self.server, &self.client)
        };
        let ack = if flags & ACK != 0 { dst.seq } else { 0 };
        let mut tcp = Vec::with_capacity(20 + payload.len());
        tcp.extend_from_slice(&src.port.to_be_bytes());
        tcp.extend_from_slice(&dst.port.to_be_bytes());
        tcp.extend_from_slice(&src.seq.to_be_bytes());
        tcp.extend_from_slice(&ack.to_be_bytes());
        tcp.push(5 << 4); // data offset: 5 words, no options
        tcp.push(flags);
        tcp.extend_from_slice(&65_535u16.to_be_bytes()); // window
        tcp.extend_from_slice(&[0, 0, 0, 0]); // checksum (below), urgent pointer
        tcp.extend_from_slice(payload);
        let mut pseudo = Vec::with_capacity(12 + tcp.len());
        pseudo.extend_from_slice(&src.addr.octets());
        pseudo.extend_from_slice(&dst.addr.octets());
        pseudo.extend_from_slice(&[0, 6]);
        pseudo.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
        pseudo.extend_from_slice(&tcp);
        let sum = checksum(&pseudo);
        tcp[16..18].copy_from_slice(&sum.to_be_bytes());

        let total = 20 + tcp.len();
        assert!(total <= usize::from(u16::MAX), "segment too large");
        let mut ip = Vec::with_capacity(total);
        ip.push(0x45); // IPv4, 5-word header
        ip.push(0);
        ip.extend_from_slice(&(total as u16).to_be_bytes());
        ip.extend_from_slice(&self.ip_id.to_be_bytes());
        ip.extend_from_slice(&0x4000u16.to_be_bytes()); // don't fragment
        ip.push(64); // TTL
        ip.push(6); // TCP
        ip.extend_from_slice(&[0, 0]);
        ip.extend_from_slice(&src.addr.octets());
        ip.extend_from_slice(&dst.addr.octets());
        let sum = checksum(&ip);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        ip.extend_from_slice(&tcp);

        let advance = payload.len() as u32 + u32::from(flags & (SYN | FIN) != 0);
        if from_client {
            self.client.seq = self.client.seq.wrapping_add(advance);
        } else {
            self.server.seq = self.server.seq.wrapping_add(advance);
        }
        self.ip_id = self.ip_id.wrapping_add(1);
        self.clock_us += 1_000;

        let secs = (self.clock_us / 1_000_000) as u32;
        let usecs = (self.clock_us % 1_000_000) as u32;
        self.out.extend_from_slice(&secs.to_le_bytes());
        self.out.extend_from_slice(&usecs.to_le_bytes());
        self.out.extend_from_slice(&(ip.len() as u32).to_le_bytes());
        self.out.extend_from_slice(&(ip.len() as u32).to_le_bytes());
        self.out.extend_from_slice(&ip);
    }
}

/// The Internet checksum (RFC 1071).
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for pair in data.chunks(2) {
        let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}
