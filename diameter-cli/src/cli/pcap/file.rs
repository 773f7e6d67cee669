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
    let mut reader = Reader::default();
    let mut packets = Vec::new();
    let mut pos = 0;
    loop {
        match reader.next(&data[pos..], true) {
            Ok((Some(p), used)) => {
                packets.push(p);
                pos += used;
            }
            Ok((None, _)) => return (packets, None),
            Err(e) => return (packets, Some(e)),
        }
    }
}

/// The largest record or block accepted by default (Wireshark's own limit is 256 KiB of
/// packet data; TSO captures stay below 64 KiB).
pub const DEFAULT_MAX_BLOCK: usize = 16 << 20;

/// Reads a pcap or pcapng capture incrementally, as its bytes arrive (a live pipe, a
/// growing file): [`Reader::next`] takes the bytes not yet consumed and says how many of
/// them the packet it returns used.
#[derive(Debug)]
pub struct Reader {
    state: State,
    /// Bytes consumed so far, for error offsets.
    consumed: usize,
    frame: u64,
    /// Records or blocks longer than this are refused as damage rather than waited for.
    max_block: usize,
}

impl Default for Reader {
    fn default() -> Self {
        Reader::new(DEFAULT_MAX_BLOCK)
    }
}

#[derive(Debug)]
enum State {
    Start,
    Pcap {
        e: Endian,
        nanos: bool,
        linktype: u32,
    },
    Pcapng {
        e: Endian,
        ifaces: Vec<Interface>,
    },
}

impl Reader {
    /// A reader that refuses records or blocks longer than `max_block` bytes.
    pub fn new(max_block: usize) -> Self {
        Reader {
            state: State::Start,
            consumed: 0,
            frame: 0,
            max_block,
        }
    }

    /// The next packet in `buf` (the bytes after those already consumed) and how many bytes
    /// were consumed, blocks that hold no packet included. `(None, n)`: more bytes are
    /// needed (the `n` skipped bytes are consumed all the same), or, when `eof` says no more
    /// will come, the capture ended cleanly.
    pub fn next<'b>(
        &mut self,
        buf: &'b [u8],
        eof: bool,
    ) -> Result<(Option<Packet<'b>>, usize), FileError> {
        let mut pos = 0;
        loop {
            let at = self.consumed + pos;
            let rest = &buf[pos..];
            let step = match &mut self.state {
                State::Start => self.start(rest, eof, at)?,
                State::Pcap { .. } => self.pcap_record(rest, eof, at)?,
                State::Pcapng { .. } => self.pcapng_block(rest, eof, at)?,
            };
            match step {
                Step::More => {
                    self.consumed += pos;
                    return Ok((None, pos));
                }
                Step::Skip(n) => pos += n,
                Step::Packet(p, range, n) => {
                    let p = Packet {
                        data: &buf[pos + range.0..pos + range.1],
                        ..p
                    };
                    self.consumed += pos + n;
                    return Ok((Some(p), pos + n));
                }
            }
        }
    }

    fn start(&mut self, b: &[u8], eof: bool, at: usize) -> Result<Step, FileError> {
        let Some(magic) = b.get(..4) else {
            return if eof {
                Err(error(
                    at,
                    "not a pcap or pcapng file (unknown magic number)",
                ))
            } else {
                Ok(Step::More)
            };
        };
        if magic == [0x0a, 0x0d, 0x0d, 0x0a] {
            self.state = State::Pcapng {
                e: Endian(false),
                ifaces: Vec::new(),
            };
            return Ok(Step::Skip(0));
        }
        let (big, nanos) = match magic {
            [0xa1, 0xb2, 0xc3, 0xd4] => (true, false),
            [0xd4, 0xc3, 0xb2, 0xa1] => (false, false),
            [0xa1, 0xb2, 0x3c, 0x4d] => (true, true),
            [0x4d, 0x3c, 0xb2, 0xa1] => (false, true),
            _ => {
                return Err(error(
                    at,
                    "not a pcap or pcapng file (unknown magic number)",
                ))
            }
        };
        let e = Endian(big);
        let Some(linktype) = e.u32(b, 20) else {
            return if eof {
                Err(error(
                    at,
                    "pcap global header is truncated (24 bytes needed)",
                ))
            } else {
                Ok(Step::More)
            };
        };
        self.state = State::Pcap {
            e,
            nanos,
            linktype: linktype & 0x0fff_ffff,
        };
        Ok(Step::Skip(24))
    }

    fn pcap_record(&mut self, b: &[u8], eof: bool, at: usize) -> Result<Step, FileError> {
        let State::Pcap { e, nanos, linktype } = self.state else {
            return Ok(Step::More);
        };
        if b.is_empty() {
            return Ok(Step::More);
        }
        let (Some(sec), Some(frac), Some(incl)) = (e.u32(b, 0), e.u32(b, 4), e.u32(b, 8)) else {
            return more_or(eof, at, "pcap record header is truncated");
        };
        let incl = incl as usize;
        if incl > self.max_block {
            return Err(error(
                at,
                &format!(
                    "pcap record of {incl} bytes is longer than the limit of {}",
                    self.max_block
                ),
            ));
        }
        if b.len() < 16 + incl {
            return more_or(
                eof,
                at,
                "pcap record is truncated (captured length past the end)",
            );
        }
        self.frame += 1;
        Ok(Step::Packet(
            Packet {
                frame: self.frame,
                ts_sec: i64::from(sec),
                ts_nsec: if nanos {
                    frac
                } else {
                    frac.saturating_mul(1000)
                },
                linktype,
                data: &[],
            },
            (16, 16 + incl),
            16 + incl,
        ))
    }

    fn pcapng_block(&mut self, b: &[u8], eof: bool, at: usize) -> Result<Step, FileError> {
        let max_block = self.max_block;
        let State::Pcapng { e, ifaces } = &mut self.state else {
            return Ok(Step::More);
        };
        if b.is_empty() {
            return Ok(Step::More);
        }
        let Some(block_type) = Endian(false).u32(b, 0) else {
            return more_or(eof, at, "pcapng block header is truncated");
        };
        if block_type == 0x0a0d_0d0a {
            match b.get(8..12) {
                Some([0x1a, 0x2b, 0x3c, 0x4d]) => *e = Endian(true),
                Some([0x4d, 0x3c, 0x2b, 0x1a]) => *e = Endian(false),
                None => return more_or(eof, at, "pcapng section header is truncated"),
                _ => return Err(error(at + 8, "pcapng byte-order magic is invalid")),
            }
            ifaces.clear();
        }
        let e = *e;
        let (Some(block_type), Some(len)) = (e.u32(b, 0), e.u32(b, 4)) else {
            return more_or(eof, at, "pcapng block header is truncated");
        };
        let len = len as usize;
        let invalid = || error(at + 4, &format!("pcapng block length {len} is invalid"));
        if len < 12 || len & 3 != 0 || len > max_block {
            return Err(invalid());
        }
        if len > b.len() {
            return if eof { Err(invalid()) } else { Ok(Step::More) };
        }
        let body = &b[8..len - 4];
        match block_type {
            1 => {
                let linktype = e.u16(body, 0).map(u32::from).unwrap_or(0);
                let units = if_tsresol(e, body.get(8..).unwrap_or(&[]));
                ifaces.push(Interface { linktype, units });
                Ok(Step::Skip(len))
            }
            6 | 2 => {
                let iface = if block_type == 6 {
                    e.u32(body, 0)
                } else {
                    e.u16(body, 0).map(u32::from)
                };
                let (Some(iface), Some(hi), Some(lo), Some(cap)) =
                    (iface, e.u32(body, 4), e.u32(body, 8), e.u32(body, 12))
                else {
                    return Err(error(at, "pcapng packet block is truncated"));
                };
                let data_at = 20;
                if body.len() < data_at + cap as usize {
                    return Err(error(at, "pcapng packet data runs past its block"));
                }
                let Some(i) = ifaces.get(iface as usize) else {
                    return Err(error(
                        at,
                        &format!("pcapng packet names unknown interface {iface}"),
                    ));
                };
                let ts = (u64::from(hi) << 32) | u64::from(lo);
                self.frame += 1;
                Ok(Step::Packet(
                    Packet {
                        frame: self.frame,
                        ts_sec: (ts / i.units) as i64,
                        ts_nsec: (u128::from(ts % i.units) * 1_000_000_000 / u128::from(i.units))
                            as u32,
                        linktype: i.linktype,
                        data: &[],
                    },
                    (8 + data_at, 8 + data_at + cap as usize),
                    len,
                ))
            }
            3 => {
                let Some(i) = ifaces.first() else {
                    return Err(error(at, "pcapng simple packet before any interface"));
                };
                let orig = e.u32(body, 0).unwrap_or(0) as usize;
                let data_len = body.len().saturating_sub(4);
                let start = 8 + 4.min(body.len());
                self.frame += 1;
                Ok(Step::Packet(
                    Packet {
                        frame: self.frame,
                        ts_sec: 0,
                        ts_nsec: 0,
                        linktype: i.linktype,
                        data: &[],
                    },
                    (start, start + orig.min(data_len)),
                    len,
                ))
            }
            _ => Ok(Step::Skip(len)),
        }
    }
}

/// What one parsing step found.
enum Step {
    /// More bytes are needed.
    More,
    /// This many bytes hold no packet.
    Skip(usize),
    /// A packet (its data as a range of the step's input) and the bytes it used.
    Packet(Packet<'static>, (usize, usize), usize),
}

fn error(offset: usize, what: &str) -> FileError {
    FileError {
        offset,
        what: what.into(),
    }
}

/// At the end of the input a cut record is damage; before it, more bytes will come.
fn more_or(eof: bool, at: usize, what: &str) -> Result<Step, FileError> {
    if eof {
        Err(error(at, what))
    } else {
        Ok(Step::More)
    }
}

/// An interface of a pcapng section: link type and timestamp resolution (units per second).
#[derive(Debug)]
struct Interface {
    linktype: u32,
    units: u64,
}

/// Byte order of a capture's fields: `true` for big-endian.
#[derive(Clone, Copy, Debug)]
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

    fn pcap_file() -> Vec<u8> {
        let mut p = Vec::new();
        p.extend(0xa1b2_c3d4u32.to_le_bytes());
        p.extend([2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        p.extend(65535u32.to_le_bytes());
        p.extend(1u32.to_le_bytes());
        for (i, data) in [&b"first"[..], b"second packet", b""].iter().enumerate() {
            p.extend((100 + i as u32).to_le_bytes());
            p.extend(7u32.to_le_bytes());
            p.extend((data.len() as u32).to_le_bytes());
            p.extend((data.len() as u32).to_le_bytes());
            p.extend(*data);
        }
        p
    }

    fn pcapng_file() -> Vec<u8> {
        fn block(out: &mut Vec<u8>, kind: u32, body: &[u8]) {
            let pad = (4 - body.len() % 4) % 4;
            let len = (12 + body.len() + pad) as u32;
            out.extend(kind.to_le_bytes());
            out.extend(len.to_le_bytes());
            out.extend(body);
            out.extend(vec![0u8; pad]);
            out.extend(len.to_le_bytes());
        }
        let mut p = Vec::new();
        let mut shb = 0x1a2b_3c4du32.to_le_bytes().to_vec();
        shb.extend([1, 0, 0, 0]);
        shb.extend((-1i64).to_le_bytes());
        block(&mut p, 0x0a0d_0d0a, &shb);
        block(&mut p, 1, &[1, 0, 0, 0, 0, 0, 0, 0]);
        block(&mut p, 5, b"statistics"); // skipped
        for (i, data) in [&b"first"[..], b"second packet"].iter().enumerate() {
            let ts = (100 + i as u64) * 1_000_000 + 7;
            let mut epb = 0u32.to_le_bytes().to_vec();
            epb.extend(((ts >> 32) as u32).to_le_bytes());
            epb.extend((ts as u32).to_le_bytes());
            epb.extend((data.len() as u32).to_le_bytes());
            epb.extend((data.len() as u32).to_le_bytes());
            epb.extend(*data);
            block(&mut p, 6, &epb);
        }
        p
    }

    /// (frame, seconds, nanoseconds, data) of each packet.
    fn summary(packets: &[Packet<'_>]) -> Vec<(u64, i64, u32, Vec<u8>)> {
        packets
            .iter()
            .map(|p| (p.frame, p.ts_sec, p.ts_nsec, p.data.to_vec()))
            .collect()
    }

    /// Feeding a capture a few bytes at a time yields every packet as soon as its last
    /// byte is there, the same packets as reading the whole file.
    #[test]
    fn bytes_arriving_in_pieces_give_the_same_packets() {
        for file in [pcap_file(), pcapng_file()] {
            let (whole, e) = read(&file);
            assert!(e.is_none(), "{e:?}");
            assert!(whole.len() >= 2);
            for piece in [1, 3, 7, 64] {
                let mut reader = Reader::default();
                let mut buf = Vec::new();
                let mut got = Vec::new();
                for chunk in file.chunks(piece) {
                    buf.extend_from_slice(chunk);
                    loop {
                        let (p, used) = reader.next(&buf, false).expect("no error");
                        let Some(p) = p else {
                            buf.drain(..used);
                            break;
                        };
                        got.push((p.frame, p.ts_sec, p.ts_nsec, p.data.to_vec()));
                        buf.drain(..used);
                    }
                }
                assert!(reader.next(&buf, true).expect("clean end").0.is_none());
                assert_eq!(got, summary(&whole), "pieces of {piece}");
            }
        }
        let file = pcap_file();
        let (p, _) = read(&file);
        assert_eq!((p[1].ts_sec, p[1].ts_nsec), (101, 7000));
        let file = pcapng_file();
        let (p, _) = read(&file);
        assert_eq!(
            (p[1].ts_sec, p[1].ts_nsec, p[1].data),
            (101, 7000, &b"second packet"[..])
        );
    }

    /// Every corruption of either file (each byte flipped, then cut short): reading it in
    /// pieces yields the packets that reading it whole does, up to the same error.
    #[test]
    fn damaged_files_read_in_pieces_agree_with_whole_reads() {
        for file in [pcap_file(), pcapng_file()] {
            for at in 0..file.len() {
                for bad in [flip(&file, at), file[..at].to_vec()] {
                    let (whole, whole_err) = read(&bad);
                    let whole = summary(&whole);
                    let mut reader = Reader::default();
                    let (mut buf, mut got, mut err) = (Vec::new(), Vec::new(), None);
                    let mut pieces = bad.chunks(5);
                    'feed: loop {
                        let piece = pieces.next();
                        buf.extend_from_slice(piece.unwrap_or(&[]));
                        loop {
                            match reader.next(&buf, piece.is_none()) {
                                Ok((Some(p), used)) => {
                                    got.push((p.frame, p.ts_sec, p.ts_nsec, p.data.to_vec()));
                                    buf.drain(..used);
                                }
                                Ok((None, used)) => {
                                    buf.drain(..used);
                                    break;
                                }
                                Err(e) => {
                                    err = Some(e);
                                    break 'feed;
                                }
                            }
                        }
                        if piece.is_none() {
                            break;
                        }
                    }
                    assert_eq!(got, whole, "byte {at}");
                    assert_eq!(err, whole_err, "byte {at}");
                }
            }
        }
    }

    fn flip(file: &[u8], at: usize) -> Vec<u8> {
        let mut f = file.to_vec();
        f[at] ^= 0xa5;
        f
    }

    /// A record cut short is damage only once no more bytes will come; one longer than the
    /// limit is refused at once instead of being waited for.
    #[test]
    fn cut_and_oversized_records() {
        let file = pcap_file();
        let cut = &file[..file.len() - 20];
        let mut reader = Reader::default();
        let mut pos = 0;
        loop {
            let (p, used) = reader.next(&cut[pos..], false).expect("no error");
            pos += used;
            if p.is_none() {
                break;
            }
        }
        let e = reader.next(&cut[pos..], true).expect_err("damaged");
        assert_eq!(e.offset, pos);
        assert!(e.what.contains("truncated"), "{}", e.what);
        let mut small = Reader::new(4);
        let e = small.next(&file, false).expect_err("too long");
        assert!(e.what.contains("longer than the limit of 4"), "{}", e.what);
        let (_, e) = read(&[]);
        assert!(e.is_some_and(|e| e.what.contains("magic")));
    }

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
