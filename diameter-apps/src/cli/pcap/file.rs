//! Reading pcap and pcapng capture files into packets (no dependency, any byte order).

/// One captured packet.
#[derive(Clone, Debug)]
pub struct Packet<'a> {
    /// 1-based frame number, as Wireshark counts.
    pub frame: u64,
    /// Capture time: seconds since the Unix epoch.
    pub ts_sec: i64,
    /// Capture time: nanoseconds within the second.
    pub ts_nsec: u32,
    /// The link-layer type (LINKTYPE_* number).
    pub linktype: u32,
    /// The captured bytes.
    pub data: &'a [u8],
}

/// Why a capture file could not be read.
#[derive(Debug, PartialEq, Eq)]
pub struct FileError {
    /// Byte offset in the file.
    pub offset: usize,
    /// What is wrong.
    pub what: String,
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (at byte offset {} of the file)",
            self.what, self.offset
        )
    }
}

/// Whether the bytes start like a pcap or pcapng file.
pub fn is_capture(data: &[u8]) -> bool {
    matches!(
        data.get(..4),
        Some([0xd4, 0xc3, 0xb2, 0xa1])
            | Some([0xa1, 0xb2, 0xc3, 0xd4])
            | Some([0x4d, 0x3c, 0xb2, 0xa1])
            | Some([0xa1, 0xb2, 0x3c, 0x4d])
            | Some([0x0a, 0x0d, 0x0d, 0x0a])
    )
}

/// Reads every packet. Packets read before a damaged record are returned with the error.
pub fn read(data: &[u8]) -> (Vec<Packet<'_>>, Option<FileError>) {
    match data.get(..4) {
        Some([0x0a, 0x0d, 0x0d, 0x0a]) => read_pcapng(data),
        Some(_) if is_capture(data) => read_pcap(data),
        _ => (
            Vec::new(),
            Some(FileError {
                offset: 0,
                what: "not a pcap or pcapng file (unknown magic number)".into(),
            }),
        ),
    }
}

#[derive(Clone, Copy)]
struct Endian(bool);

impl Endian {
    fn u16(self, b: &[u8], at: usize) -> Option<u16> {
        let a: [u8; 2] = b.get(at..at + 2)?.try_into().ok()?;
        Some(if self.0 {
            u16::from_be_bytes(a)
        } else {
            u16::from_le_bytes(a)
        })
    }
    fn u32(self, b: &[u8], at: usize) -> Option<u32> {
        let a: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        Some(if self.0 {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        })
    }
}

fn err(offset: usize, what: &str) -> Option<FileError> {
    Some(FileError {
        offset,
        what: what.into(),
    })
}

fn read_pcap(data: &[u8]) -> (Vec<Packet<'_>>, Option<FileError>) {
    let (big, nanos) = match data.get(..4) {
        Some([0xa1, 0xb2, 0xc3, 0xd4]) => (true, false),
        Some([0xd4, 0xc3, 0xb2, 0xa1]) => (false, false),
        Some([0xa1, 0xb2, 0x3c, 0x4d]) => (true, true),
        _ => (false, true),
    };
    let e = Endian(big);
    let mut packets = Vec::new();
    let Some(linktype) = e.u32(data, 20) else {
        return (
            packets,
            err(0, "pcap global header is truncated (24 bytes needed)"),
        );
    };
    let mut pos = 24;
    let mut frame = 0;
    while pos < data.len() {
        let (Some(sec), Some(frac), Some(incl)) =
            (e.u32(data, pos), e.u32(data, pos + 4), e.u32(data, pos + 8))
        else {
            return (packets, err(pos, "pcap record header is truncated"));
        };
        let start = pos + 16;
        let Some(bytes) = data.get(start..start + incl as usize) else {
            return (
                packets,
                err(
                    pos,
                    "pcap record is truncated (captured length past the end)",
                ),
            );
        };
        frame += 1;
        packets.push(Packet {
            frame,
            ts_sec: i64::from(sec),
            ts_nsec: if nanos {
                frac
            } else {
                frac.saturating_mul(1000)
            },
            linktype: linktype & 0x0fff_ffff,
            data: bytes,
        });
        pos = start + incl as usize;
    }
    (packets, None)
}

/// An interface of a pcapng section: link type and timestamp resolution (units per second).
struct Interface {
    linktype: u32,
    units: u64,
}

fn read_pcapng(data: &[u8]) -> (Vec<Packet<'_>>, Option<FileError>) {
    let mut packets = Vec::new();
    let mut pos = 0;
    let mut e = Endian(false);
    let mut ifaces: Vec<Interface> = Vec::new();
    let mut frame = 0;
    while pos < data.len() {
        let Some(block_type) = Endian(false).u32(data, pos) else {
            return (packets, err(pos, "pcapng block header is truncated"));
        };
        if block_type == 0x0a0d_0d0a {
            match data.get(pos + 8..pos + 12) {
                Some([0x1a, 0x2b, 0x3c, 0x4d]) => e = Endian(true),
                Some([0x4d, 0x3c, 0x2b, 0x1a]) => e = Endian(false),
                None => return (packets, err(pos, "pcapng section header is truncated")),
                _ => return (packets, err(pos + 8, "pcapng byte-order magic is invalid")),
            }
            ifaces.clear();
        }
        let (Some(block_type), Some(len)) = (e.u32(data, pos), e.u32(data, pos + 4)) else {
            return (packets, err(pos, "pcapng block header is truncated"));
        };
        let len = len as usize;
        if len < 12 || len & 3 != 0 || pos + len > data.len() {
            return (
                packets,
                err(pos + 4, &format!("pcapng block length {len} is invalid")),
            );
        }
        let body = &data[pos + 8..pos + len - 4];
        match block_type {
            1 => {
                let linktype = e.u16(body, 0).map(u32::from).unwrap_or(0);
                let units = if_tsresol(e, body.get(8..).unwrap_or(&[]));
                ifaces.push(Interface { linktype, units });
            }
            6 | 2 => {
                let (iface, hi, lo, cap, data_at) = if block_type == 6 {
                    (
                        e.u32(body, 0),
                        e.u32(body, 4),
                        e.u32(body, 8),
                        e.u32(body, 12),
                        20,
                    )
                } else {
                    (
                        e.u16(body, 0).map(u32::from),
                        e.u32(body, 4),
                        e.u32(body, 8),
                        e.u32(body, 12),
                        20,
                    )
                };
                let (Some(iface), Some(hi), Some(lo), Some(cap)) = (iface, hi, lo, cap) else {
                    return (packets, err(pos, "pcapng packet block is truncated"));
                };
                let Some(bytes) = body.get(data_at..data_at + cap as usize) else {
                    return (packets, err(pos, "pcapng packet data runs past its block"));
                };
                let Some(i) = ifaces.get(iface as usize) else {
                    return (
                        packets,
                        err(
                            pos,
                            &format!("pcapng packet names unknown interface {iface}"),
                        ),
                    );
                };
                let ts = (u64::from(hi) << 32) | u64::from(lo);
                frame += 1;
                packets.push(Packet {
                    frame,
                    ts_sec: (ts / i.units) as i64,
                    ts_nsec: (u128::from(ts % i.units) * 1_000_000_000 / u128::from(i.units))
                        as u32,
                    linktype: i.linktype,
                    data: bytes,
                });
            }
            3 => {
                let Some(i) = ifaces.first() else {
                    return (
                        packets,
                        err(pos, "pcapng simple packet before any interface"),
                    );
                };
                let orig = e.u32(body, 0).unwrap_or(0) as usize;
                let bytes = &body[4.min(body.len())..];
                frame += 1;
                packets.push(Packet {
                    frame,
                    ts_sec: 0,
                    ts_nsec: 0,
                    linktype: i.linktype,
                    data: &bytes[..orig.min(bytes.len())],
                });
            }
            _ => {}
        }
        pos += len;
    }
    (packets, None)
}

/// The `if_tsresol` option (code 9) of an interface block: units per second.
fn if_tsresol(e: Endian, mut opts: &[u8]) -> u64 {
    while opts.len() >= 4 {
        let code = e.u16(opts, 0).unwrap_or(0);
        let len = e.u16(opts, 2).unwrap_or(0) as usize;
        if code == 0 {
            break;
        }
        if code == 9 && len >= 1 && opts.len() > 4 {
            let v = opts[4];
            let exp = u32::from(v & 0x7f).min(19);
            return if v & 0x80 != 0 {
                1u64 << exp.min(63)
            } else {
                10u64.pow(exp)
            };
        }
        let step = 4 + len + (4 - len % 4) % 4;
        opts = opts.get(step..).unwrap_or(&[]);
    }
    1_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `pcap` fuzz target: a file cut inside the first section header was
    /// reported as a bad byte-order magic at an offset past its end.
    #[test]
    fn truncated_section_header_is_reported_as_truncated() {
        let (packets, e) = read(&[0x0a, 0x0d, 0x0d, 0x0a, 0, 0]);
        let e = e.expect("an error");
        assert!(packets.is_empty());
        assert_eq!(e.offset, 0);
        assert!(e.what.contains("truncated"), "{}", e.what);
        let (_, e) = read(&[0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 28, 1, 2, 3, 4]);
        let e = e.expect("an error");
        assert_eq!(e.offset, 8);
        assert!(e.what.contains("byte-order magic"), "{}", e.what);
    }
}
