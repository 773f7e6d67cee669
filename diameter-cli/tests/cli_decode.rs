//! `diameter decode`: fixtures as hex, JSON output, malformed input, pcap and pcapng.

use assert_cmd::Command;
use predicates::prelude::*;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn diameter() -> Command {
    let mut c = Command::cargo_bin("diameter").expect("binary");
    c.env_remove("RUST_LOG").env("NO_COLOR", "1");
    c
}

fn hex_bytes(name: &str) -> Vec<u8> {
    let text = std::fs::read_to_string(fixture(name)).expect("fixture");
    let digits: String = text.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).expect("hex"))
        .collect()
}

#[test]
fn ccr_fixture_as_a_tree() {
    diameter()
        .args(["decode", fixture("ccr.hex").to_str().expect("path")])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "Diameter Credit-Control-Request (CCR)",
        ))
        .stdout(predicate::str::contains("Flags: 0xc0 (Request, Proxiable)"))
        .stdout(predicate::str::contains(
            "AVP: CC-Request-Type (416) l=12 f=-M-: INITIAL_REQUEST (1)",
        ))
        .stdout(predicate::str::contains(
            "Event-Timestamp (55) l=12 f=-M-: 2026-01-01T00:00:00Z",
        ))
        .stdout(predicate::str::contains(
            "            AVP: CC-Total-Octets (421) l=16 f=-M-: 1000",
        ))
        .stdout(predicate::str::contains(
            "AVP: PS-Information (874) vnd=10415 l=28 f=VM-",
        ))
        .stdout(predicate::str::contains(
            "AVP: Unknown AVP (99999) vnd=99 l=16 f=V--: raw 0x01020304",
        ))
        .stdout(predicate::str::contains(
            "Auth-Application-Id (258) l=12 f=-M-: 4 (Diameter Credit-Control)",
        ));
}

#[test]
fn cer_from_argument_and_cea_from_stdin() {
    let cer = std::fs::read_to_string(fixture("cer.hex")).expect("fixture");
    diameter()
        .args(["decode", cer.trim()])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "Capabilities-Exchange-Request (CER)",
        ))
        .stdout(predicate::str::contains(
            "Host-IP-Address (257) l=14 f=-M-: 127.0.0.1",
        ));
    diameter()
        .arg("decode")
        .write_stdin(std::fs::read(fixture("cea.hex")).expect("fixture"))
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "Result-Code (268) l=12 f=-M-: 2001 (DIAMETER_SUCCESS)",
        ));
}

#[test]
fn json_output() {
    let out = diameter()
        .args([
            "decode",
            "--json",
            fixture("ccr.hex").to_str().expect("path"),
        ])
        .output()
        .expect("run");
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let m = &v[0];
    assert_eq!(m["command"]["abbrev"], "CCR");
    assert_eq!(m["application"]["id"], 4);
    let avps = m["avps"].as_array().expect("avps");
    let rt = avps
        .iter()
        .find(|a| a["name"] == "CC-Request-Type")
        .expect("CC-Request-Type");
    assert_eq!(rt["value"], 1);
    assert_eq!(rt["meaning"], "INITIAL_REQUEST");
    let mscc = avps.iter().find(|a| a["code"] == 456).expect("MSCC");
    assert_eq!(mscc["avps"][0]["avps"][0]["name"], "CC-Total-Octets");
    assert_eq!(mscc["avps"][0]["avps"][0]["value"], 1000);
    let unknown = avps.iter().find(|a| a["code"] == 99999).expect("unknown");
    assert_eq!(unknown["raw"], "01020304");
    assert_eq!(unknown["vendor"], 99);
}

#[test]
fn several_messages_back_to_back() {
    let mut both = hex_bytes("cer.hex");
    both.extend(hex_bytes("cea.hex"));
    let text: String = both.iter().map(|b| format!("{b:02x}")).collect();
    diameter()
        .arg("decode")
        .write_stdin(text)
        .assert()
        .success()
        .stdout(predicate::str::contains("(CER)"))
        .stdout(predicate::str::contains("(CEA)"));
}

#[test]
fn malformed_input_says_what_and_where() {
    // An AVP that claims 48 bytes in a 36-byte message.
    diameter()
        .args([
            "decode",
            "01000024 80000110 00000004 00000001 00000002 00000107 40000030 61626364 65666768",
        ])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("Credit-Control-Request"))
        .stderr(predicate::str::contains(
            "invalid length 48 of AVP 263 (vendor 0) (at byte offset 20)",
        ));
    // Truncated: the header says 32 bytes.
    diameter()
        .args([
            "decode",
            "01000020 80000110 00000004 00000001 00000002 00000107",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "truncated message: the header says 32 bytes, 24 are present (at byte offset 0)",
        ));
    // Not Diameter.
    diameter()
        .args(["decode", "0200001480000110000000040000000100000002"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("unsupported version 2"));
    // Not hex.
    diameter()
        .args(["decode", "01zz"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a hex digit at character 2"));
}

#[test]
fn every_truncation_and_corruption_is_handled_without_panic() {
    let ccr = hex_bytes("ccr.hex");
    for cut in (0..ccr.len()).step_by(7) {
        let text: String = ccr[..cut].iter().map(|b| format!("{b:02x}")).collect();
        let out = diameter()
            .args(["decode", "--format", "hex", "-"])
            .write_stdin(text)
            .output()
            .expect("run");
        assert!(matches!(out.status.code(), Some(1) | Some(2)), "cut {cut}");
    }
    for at in (0..ccr.len()).step_by(5) {
        let mut bad = ccr.clone();
        bad[at] ^= 0xff;
        let text: String = bad.iter().map(|b| format!("{b:02x}")).collect();
        let out = diameter().args(["decode", &text]).output().expect("run");
        assert!(
            matches!(out.status.code(), Some(0) | Some(1)),
            "byte {at}: {:?}",
            out
        );
    }
}

/// Writes Ethernet/IPv4/TCP frames.
struct Flow {
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
}

impl Flow {
    fn frame(&self, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00]);
        let total = (20 + 20 + payload.len()) as u16;
        f.extend([
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            0,
            0x40,
            0,
            64,
            6,
            0,
            0,
        ]);
        f.extend(self.src);
        f.extend(self.dst);
        f.extend(self.sport.to_be_bytes());
        f.extend(self.dport.to_be_bytes());
        f.extend(seq.to_be_bytes());
        f.extend(0u32.to_be_bytes());
        f.extend([0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        f.extend(payload);
        f
    }
}

/// The frames of a capture: a handshake, a CER in one segment, a CCR in three segments
/// sent out of order with a retransmission, a CEA and a CER in one segment, and an
/// HTTP flow that must be ignored.
fn frames() -> Vec<Vec<u8>> {
    let c = Flow {
        src: [10, 0, 0, 1],
        dst: [10, 0, 0, 2],
        sport: 40000,
        dport: 3868,
    };
    let s = Flow {
        src: [10, 0, 0, 2],
        dst: [10, 0, 0, 1],
        sport: 3868,
        dport: 40000,
    };
    let h = Flow {
        src: [10, 0, 0, 1],
        dst: [10, 0, 0, 3],
        sport: 40001,
        dport: 80,
    };
    let cer = hex_bytes("cer.hex");
    let cea = hex_bytes("cea.hex");
    let ccr = hex_bytes("ccr.hex");
    let isn = 1000u32;
    let mut out = vec![c.frame(isn, 0x02, &[]), s.frame(5000, 0x12, &[])];
    let mut seq = isn + 1;
    out.push(c.frame(seq, 0x18, &cer));
    seq += cer.len() as u32;
    let mut two = cea.clone();
    two.extend(&cer);
    out.push(s.frame(5001, 0x18, &two));
    let (a, rest) = ccr.split_at(10);
    let (b, d) = rest.split_at(100);
    out.push(c.frame(seq, 0x18, a));
    out.push(c.frame(seq + 10 + 100, 0x18, d));
    out.push(c.frame(seq, 0x18, a));
    out.push(c.frame(seq + 10, 0x18, b));
    out.push(h.frame(77, 0x18, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    out
}

fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend(0xa1b2_c3d4u32.to_le_bytes());
    p.extend(2u16.to_le_bytes());
    p.extend(4u16.to_le_bytes());
    p.extend([0u8; 8]);
    p.extend(65535u32.to_le_bytes());
    p.extend(1u32.to_le_bytes());
    for (i, f) in frames.iter().enumerate() {
        p.extend((1_767_225_600u32 + i as u32).to_le_bytes());
        p.extend(500u32.to_le_bytes());
        p.extend((f.len() as u32).to_le_bytes());
        p.extend((f.len() as u32).to_le_bytes());
        p.extend(f);
    }
    p
}

fn pcapng(frames: &[Vec<u8>]) -> Vec<u8> {
    fn block(out: &mut Vec<u8>, kind: u32, body: &[u8]) {
        let len = (12 + body.len() + (4 - body.len() % 4) % 4) as u32;
        out.extend(kind.to_be_bytes());
        out.extend(len.to_be_bytes());
        out.extend(body);
        out.extend(vec![0u8; (4 - body.len() % 4) % 4]);
        out.extend(len.to_be_bytes());
    }
    let mut p = Vec::new();
    let mut shb = Vec::new();
    shb.extend(0x1a2b_3c4du32.to_be_bytes());
    shb.extend(1u16.to_be_bytes());
    shb.extend(0u16.to_be_bytes());
    shb.extend((-1i64).to_be_bytes());
    block(&mut p, 0x0a0d_0d0a, &shb);
    let mut idb = Vec::new();
    idb.extend(1u16.to_be_bytes());
    idb.extend(0u16.to_be_bytes());
    idb.extend(0u32.to_be_bytes());
    block(&mut p, 1, &idb);
    for (i, f) in frames.iter().enumerate() {
        let ts = (1_767_225_600u64 + i as u64) * 1_000_000;
        let mut epb = Vec::new();
        epb.extend(0u32.to_be_bytes());
        epb.extend(((ts >> 32) as u32).to_be_bytes());
        epb.extend((ts as u32).to_be_bytes());
        epb.extend((f.len() as u32).to_be_bytes());
        epb.extend((f.len() as u32).to_be_bytes());
        epb.extend(f);
        block(&mut p, 6, &epb);
    }
    p
}

fn check_capture(bytes: Vec<u8>, ext: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(format!("trace.{ext}"));
    std::fs::write(&path, bytes).expect("write");
    let out = diameter()
        .args(["decode", "--json", path.to_str().expect("path")])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let names: Vec<String> = v
        .as_array()
        .expect("array")
        .iter()
        .map(|m| m["command"]["abbrev"].as_str().unwrap_or("?").to_owned())
        .collect();
    assert_eq!(names, ["CER", "CEA", "CER", "CCR"], "{v:#}");
    if let Some(t) = tshark() {
        let ours: Vec<(u64, u64, bool)> = v
            .as_array()
            .expect("array")
            .iter()
            .map(|m| {
                (
                    m["frame"].as_u64().unwrap_or(0),
                    m["command"]["code"].as_u64().unwrap_or(0),
                    m["flags"]["request"].as_bool().unwrap_or(false),
                )
            })
            .collect();
        assert_eq!(ours, tshark_messages(&t, &path), "decode and tshark agree");
    }
    let ccr = &v[3];
    assert_eq!(ccr["frame"], 8, "completed by the eighth frame");
    assert_eq!(ccr["src"], "10.0.0.1:40000");
    assert_eq!(ccr["dst"], "10.0.0.2:3868");
    assert_eq!(ccr["stream_offset"], 164);
    assert_eq!(v[2]["stream_offset"], 136, "second message of one segment");
    diameter()
        .args(["decode", path.to_str().expect("path")])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "Frame 8 at 2026-01-01T00:00:07Z (1767225607.000500000): 10.0.0.1:40000 → 10.0.0.2:3868, stream offset 164",
        ).or(predicate::str::contains("Frame 8 at 2026-01-01T00:00:07Z")))
        .stdout(predicate::str::contains("Diameter Credit-Control-Request (CCR)"));
}

#[test]
fn pcap_with_segmented_reordered_and_coalesced_messages() {
    check_capture(pcap(&frames()), "pcap");
}

#[test]
fn pcapng_with_segmented_reordered_and_coalesced_messages() {
    check_capture(pcapng(&frames()), "pcapng");
}

#[test]
fn truncated_capture_reports_where() {
    let mut p = pcap(&frames());
    p.truncate(p.len() - 30);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cut.pcap");
    std::fs::write(&path, p).expect("write");
    diameter()
        .args(["decode", path.to_str().expect("path")])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("the capture file is damaged"))
        .stderr(predicate::str::contains("at byte offset"));
}

#[test]
fn corrupted_captures_never_crash() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (n, bytes) in [pcap(&frames()), pcapng(&frames())].into_iter().enumerate() {
        // Flip bytes all over the file (headers, lengths, payloads) and cut it short.
        for at in (0..bytes.len()).step_by(bytes.len() / 60 + 1) {
            let mut bad = bytes.clone();
            bad[at] ^= 0xa5;
            if at % 3 == 0 {
                bad.truncate(bytes.len() - at / 2);
            }
            let path = dir.path().join(format!("bad{n}-{at}.pcap"));
            std::fs::write(&path, &bad).expect("write");
            let out = diameter()
                .args(["decode", "--format", "pcap", path.to_str().expect("path")])
                .output()
                .expect("run");
            assert!(
                matches!(out.status.code(), Some(0..=2)),
                "byte {at}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// An Ethernet/IPv4/SCTP frame with the given DATA chunks (flags, TSN, stream, data).
fn sctp_frame(src: [u8; 4], dst: [u8; 4], chunks: &[(u8, u32, u16, &[u8])]) -> Vec<u8> {
    let mut sctp = Vec::new();
    sctp.extend(3868u16.to_be_bytes());
    sctp.extend(3868u16.to_be_bytes());
    sctp.extend([0u8; 8]);
    for (flags, tsn, stream, data) in chunks {
        let len = 16 + data.len();
        sctp.extend([0, *flags]);
        sctp.extend((len as u16).to_be_bytes());
        sctp.extend(tsn.to_be_bytes());
        sctp.extend(stream.to_be_bytes());
        sctp.extend(0u16.to_be_bytes());
        sctp.extend(46u32.to_be_bytes());
        sctp.extend(*data);
        sctp.extend(vec![0u8; (4 - len % 4) % 4]);
    }
    let mut f = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00];
    let total = (20 + sctp.len()) as u16;
    f.extend([
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        0,
        0x40,
        0,
        64,
        132,
        0,
        0,
    ]);
    f.extend(src);
    f.extend(dst);
    f.extend(sctp);
    f
}

#[test]
fn sctp_chunks_bundled_fragmented_and_retransmitted() {
    let (a, b) = ([10, 0, 0, 1], [10, 0, 0, 2]);
    let cer = hex_bytes("cer.hex");
    let cea = hex_bytes("cea.hex");
    let ccr = hex_bytes("ccr.hex");
    let (first, last) = ccr.split_at(150);
    let frames = vec![
        sctp_frame(a, b, &[(3, 1, 0, &cer)]),
        sctp_frame(b, a, &[(3, 7, 0, &cea), (3, 8, 1, &cer)]),
        sctp_frame(a, b, &[(2, 2, 1, first)]),
        sctp_frame(a, b, &[(1, 3, 1, last)]),
        sctp_frame(a, b, &[(1, 3, 1, last)]),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sctp.pcap");
    std::fs::write(&path, pcap(&frames)).expect("write");
    let out = diameter()
        .args(["decode", "--json", path.to_str().expect("path")])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let names: Vec<&str> = v
        .as_array()
        .expect("array")
        .iter()
        .map(|m| m["command"]["abbrev"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(names, ["CER", "CEA", "CER", "CCR"], "{v:#}");
    if let Some(t) = tshark() {
        let ours: Vec<(u64, u64, bool)> = v
            .as_array()
            .expect("array")
            .iter()
            .map(|m| {
                (
                    m["frame"].as_u64().unwrap_or(0),
                    m["command"]["code"].as_u64().unwrap_or(0),
                    m["flags"]["request"].as_bool().unwrap_or(false),
                )
            })
            .collect();
        assert_eq!(ours, tshark_messages(&t, &path), "decode and tshark agree");
    }
    assert_eq!(v[3]["transport"], "sctp");
    assert_eq!(v[3]["sctp_stream"], 1);
    assert_eq!(v[3]["tsn"], 2);
    assert_eq!(v[3]["frame"], 4);
    diameter()
        .args(["decode", path.to_str().expect("path")])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "10.0.0.1:3868 → 10.0.0.2:3868, SCTP stream 1, TSN 2",
        ));
}

#[test]
fn wireshark_and_xxd_dumps() {
    let cea = hex_bytes("cea.hex");
    let mut ws = String::new();
    let mut xxd = String::new();
    for (i, chunk) in cea.chunks(16).enumerate() {
        let bytes: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
        let ascii: String = chunk
            .iter()
            .map(|&b| {
                if (0x20..0x7f).contains(&b) {
                    b as char
                } else {
                    '.'
                }
            })
            .collect();
        ws.push_str(&format!(
            "{:04x}   {:<48}  {ascii}\n",
            i * 16,
            bytes.join(" ")
        ));
        let groups: Vec<String> = bytes.chunks(2).map(|g| g.concat()).collect();
        xxd.push_str(&format!(
            "{:08x}: {:<40} {ascii}\n",
            i * 16,
            groups.join(" ")
        ));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in [("ws.txt", &ws), ("xxd.txt", &xxd)] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        diameter()
            .args(["decode", path.to_str().expect("path")])
            .assert()
            .success()
            .stdout(predicate::str::contains(
                "Result-Code (268) l=12 f=-M-: 2001 (DIAMETER_SUCCESS)",
            ))
            .stdout(predicate::str::contains(
                "Product-Name (269) l=19 f=---: \"diameter-rs\"",
            ));
    }
    diameter()
        .arg("decode")
        .write_stdin(ws)
        .assert()
        .success()
        .stdout(predicate::str::contains("(CEA)"));
}

/// A Diameter message: header fields and (code, data) base AVPs with the M flag.
fn message(code: u32, request: bool, app: u32, hbh: u32, avps: &[(u32, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (c, data) in avps {
        body.extend(c.to_be_bytes());
        let len = 8 + data.len() as u32;
        body.extend((0x4000_0000 | len).to_be_bytes());
        body.extend(*data);
        body.extend(vec![0u8; (4 - data.len() % 4) % 4]);
    }
    let len = 20 + body.len() as u32;
    let mut m = (0x0100_0000 | len).to_be_bytes().to_vec();
    let flags: u32 = if request { 0xc0 } else { 0x40 };
    m.extend(((flags << 24) | code).to_be_bytes());
    m.extend(app.to_be_bytes());
    m.extend(hbh.to_be_bytes());
    m.extend(hbh.wrapping_add(0x1000).to_be_bytes());
    m.extend(body);
    m
}

/// One connection's exchange: CER/CEA, CCR/CCA (Result-Code `rc`), DPR/DPA, as
/// (from client, bytes).
fn exchange(session: &str, rc: u32, hbh: u32) -> Vec<(bool, Vec<u8>)> {
    let host: &[u8] = b"client.example";
    let peer: &[u8] = b"server.example";
    let realm: &[u8] = b"example";
    let ok = 2001u32.to_be_bytes();
    let rc = rc.to_be_bytes();
    let sid = session.as_bytes();
    let one = 1u32.to_be_bytes();
    let four = 4u32.to_be_bytes();
    vec![
        (
            true,
            message(257, true, 0, hbh, &[(264, host), (296, realm)]),
        ),
        (
            false,
            message(257, false, 0, hbh, &[(268, &ok), (264, peer), (296, realm)]),
        ),
        (
            true,
            message(
                272,
                true,
                4,
                hbh + 1,
                &[
                    (263, sid),
                    (264, host),
                    (296, realm),
                    (258, &four),
                    (416, &one),
                ],
            ),
        ),
        (
            false,
            message(
                272,
                false,
                4,
                hbh + 1,
                &[
                    (263, sid),
                    (268, &rc),
                    (264, peer),
                    (296, realm),
                    (258, &four),
                ],
            ),
        ),
        (
            true,
            message(
                282,
                true,
                0,
                hbh + 2,
                &[(264, host), (296, realm), (273, &[0, 0, 0, 0])],
            ),
        ),
        (
            false,
            message(
                282,
                false,
                0,
                hbh + 2,
                &[(268, &ok), (264, peer), (296, realm)],
            ),
        ),
    ]
}

/// Frames of one TCP connection 10.0.0.1:40000 → 10.0.0.2:3868 with the given initial
/// sequence numbers: handshake, the exchange (one message per segment), FIN both ways.
fn connection(isn_c: u32, isn_s: u32, msgs: &[(bool, Vec<u8>)]) -> Vec<Vec<u8>> {
    let c = Flow {
        src: [10, 0, 0, 1],
        dst: [10, 0, 0, 2],
        sport: 40000,
        dport: 3868,
    };
    let s = Flow {
        src: [10, 0, 0, 2],
        dst: [10, 0, 0, 1],
        sport: 3868,
        dport: 40000,
    };
    let mut out = vec![c.frame(isn_c, 0x02, &[]), s.frame(isn_s, 0x12, &[])];
    let (mut sc, mut ss) = (isn_c.wrapping_add(1), isn_s.wrapping_add(1));
    out.push(c.frame(sc, 0x10, &[]));
    for (from_client, m) in msgs {
        if *from_client {
            out.push(c.frame(sc, 0x18, m));
            sc = sc.wrapping_add(m.len() as u32);
        } else {
            out.push(s.frame(ss, 0x18, m));
            ss = ss.wrapping_add(m.len() as u32);
        }
    }
    out.push(c.frame(sc, 0x11, &[]));
    out.push(s.frame(ss, 0x11, &[]));
    out.push(c.frame(sc.wrapping_add(1), 0x10, &[]));
    out
}

/// Two connections on one 4-tuple (a peer reconnecting from a fixed port); the second's
/// initial sequence numbers relative to the first's as given.
fn reused_tuple(second_isn: (u32, u32)) -> Vec<Vec<u8>> {
    let mut frames = connection(1_000_000, 7_000_000, &exchange("s;1", 2001, 1));
    frames.extend(connection(
        second_isn.0,
        second_isn.1,
        &exchange("s;2", 4012, 11),
    ));
    frames
}

/// (frame, command code, request flag, time) of every message `diameter decode` finds.
fn decoded(path: &std::path::Path) -> Vec<(u64, u64, bool, String)> {
    let out = diameter()
        .args(["decode", "--json"])
        .arg(path)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    v.as_array()
        .expect("array")
        .iter()
        .map(|m| {
            (
                m["frame"].as_u64().unwrap_or(0),
                m["command"]["code"].as_u64().unwrap_or(0),
                m["flags"]["request"].as_bool().unwrap_or(false),
                m["time"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// tshark, or `None` (skipped with a message) when it is not installed and
/// `REQUIRE_TSHARK` is not set.
fn tshark() -> Option<std::ffi::OsString> {
    let candidate = std::env::var_os("TSHARK").unwrap_or_else(|| "tshark".into());
    let found = std::process::Command::new(&candidate)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some(candidate);
    }
    assert!(
        std::env::var_os("REQUIRE_TSHARK").is_none(),
        "REQUIRE_TSHARK is set but {candidate:?} does not run"
    );
    eprintln!("skipped: tshark is not installed; the comparison with tshark did not run");
    None
}

/// (frame, command code, request flag) of every Diameter message as tshark reads them
/// (with out-of-order segments reassembled, as `diameter decode` does).
fn tshark_messages(tshark: &std::ffi::OsStr, path: &std::path::Path) -> Vec<(u64, u64, bool)> {
    let out = std::process::Command::new(tshark)
        .arg("-r")
        .arg(path)
        .args(["-o", "tcp.reassemble_out_of_order:TRUE"])
        .args(["-Y", "diameter", "-T", "fields", "-E", "occurrence=a"])
        .args(["-e", "frame.number", "-e", "diameter.cmd.code"])
        .args(["-e", "diameter.flags.request"])
        .output()
        .expect("tshark");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .flat_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let frame: u64 = f.first().and_then(|s| s.parse().ok()).unwrap_or(0);
            let codes: Vec<u64> = f
                .get(1)
                .unwrap_or(&"")
                .split(',')
                .filter_map(|c| c.parse().ok())
                .collect();
            let reqs: Vec<bool> = f
                .get(2)
                .unwrap_or(&"")
                .split(',')
                .map(|r| r == "1" || r == "True")
                .collect();
            codes
                .into_iter()
                .zip(reqs)
                .map(|(c, r)| (frame, c, r))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn check_reused_tuple(second_isn: (u32, u32)) {
    let dir = tempfile::tempdir().expect("tempdir");
    for (ext, bytes) in [
        ("pcap", pcap(&reused_tuple(second_isn))),
        ("pcapng", pcapng(&reused_tuple(second_isn))),
    ] {
        let path = dir.path().join(format!("reuse.{ext}"));
        std::fs::write(&path, bytes).expect("write");
        let ours = decoded(&path);
        assert_eq!(
            ours.len(),
            12,
            "every message of both connections: {ours:?}"
        );
        for (frame, _, _, time) in &ours {
            assert!(*frame > 0, "{ours:?}");
            assert!(
                time.starts_with("17672256"),
                "capture time, not 1970: {ours:?}"
            );
        }
        let codes: Vec<(u64, bool)> = ours.iter().map(|m| (m.1, m.2)).collect();
        let one = [
            (257, true),
            (257, false),
            (272, true),
            (272, false),
            (282, true),
            (282, false),
        ];
        assert_eq!(codes, [one, one].concat());
        if let Some(t) = tshark() {
            let theirs = tshark_messages(&t, &path);
            let ours: Vec<(u64, u64, bool)> = ours.iter().map(|m| (m.0, m.1, m.2)).collect();
            assert_eq!(ours, theirs, "decode and tshark agree ({ext})");
        }
    }
}

#[test]
fn reused_tuple_with_lower_sequence_numbers_loses_nothing() {
    check_reused_tuple((500, 3_000));
}

#[test]
fn reused_tuple_with_higher_sequence_numbers_loses_nothing() {
    check_reused_tuple((2_000_000_000, 4_000_000_000));
}

#[test]
fn reused_tuple_across_sequence_wrap_loses_nothing() {
    check_reused_tuple((u32::MAX - 100, 1_000_050));
}

/// `(frame, answer_to, resp_time)` of every answer as `diameter decode --json` reads them,
/// with any extra arguments.
fn decoded_json(path: &std::path::Path, extra: &[&str]) -> Vec<serde_json::Value> {
    let out = diameter()
        .args(["decode", "--json"])
        .args(extra)
        .arg(path)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    v.as_array().expect("array").clone()
}

#[test]
fn answers_are_matched_to_requests_with_response_times_like_tshark() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("reuse.pcap");
    std::fs::write(&path, pcap(&reused_tuple((500, 3_000)))).expect("write");
    let ours: Vec<(u64, u64, f64)> = decoded_json(&path, &[])
        .iter()
        .filter(|m| m["flags"]["request"] == false)
        .map(|m| {
            (
                m["frame"].as_u64().unwrap_or(0),
                m["answer_to"].as_u64().unwrap_or(0),
                m["resp_time"].as_f64().unwrap_or(-1.0),
            )
        })
        .collect();
    // Each answer is the frame right after its request, one second later.
    assert_eq!(ours.len(), 6);
    for (frame, to, t) in &ours {
        assert_eq!(*to, frame - 1, "{ours:?}");
        assert!((t - 1.0).abs() < 1e-9, "{ours:?}");
    }
    let text = diameter().arg("decode").arg(&path).output().expect("run");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains(
            ": 10.0.0.2:3868 → 10.0.0.1:40000, stream offset 0; answer to frame 4 after 1.000000 s"
        ),
        "{text}"
    );
    let Some(t) = tshark() else { return };
    let out = std::process::Command::new(t)
        .arg("-r")
        .arg(&path)
        .args(["-Y", "diameter.flags.request == 0", "-T", "fields"])
        .args(["-e", "frame.number", "-e", "diameter.answer_to"])
        .args(["-e", "diameter.resp_time"])
        .output()
        .expect("tshark");
    let theirs: Vec<(u64, u64, f64)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let n = |i: usize| f.get(i).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
            let t = f.get(2).and_then(|s| s.parse::<f64>().ok()).unwrap_or(-1.0);
            (n(0), n(1), t)
        })
        .collect();
    assert_eq!(ours, theirs, "decode and tshark match the same requests");
}

#[test]
fn filters_by_command_session_result_code_and_peer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("reuse.pcap");
    std::fs::write(&path, pcap(&reused_tuple((500, 3_000)))).expect("write");
    let count = |extra: &[&str]| decoded_json(&path, extra).len();
    let abbrevs = |extra: &[&str]| -> Vec<String> {
        decoded_json(&path, extra)
            .iter()
            .map(|m| m["command"]["abbrev"].as_str().unwrap_or("?").to_owned())
            .collect()
    };
    assert_eq!(abbrevs(&["--command", "CCA"]), ["CCA", "CCA"]);
    assert_eq!(count(&["--command", "272"]), 4);
    assert_eq!(
        count(&["--command", "Credit-Control", "--command", "DPR"]),
        6
    );
    assert_eq!(abbrevs(&["--session", "s;2"]), ["CCR", "CCA"]);
    let v = decoded_json(&path, &["--result-code", "4012"]);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0]["frame"], 19, "the second connection's CCA");
    assert_eq!(count(&["--result-code", "2001", "--command", "CEA"]), 2);
    assert_eq!(count(&["--peer", "10.0.0.2:3868"]), 12);
    assert_eq!(count(&["--peer", "10.0.0.1"]), 12);
    assert_eq!(count(&["--peer", "10.0.0.9"]), 0);
    // By Origin-Host: learned from the CER the address sent, then every message to or from it.
    assert_eq!(count(&["--peer", "client.example"]), 12);
    assert_eq!(count(&["--peer", "nobody.example"]), 0);
    diameter()
        .args(["decode", "--command", "NOPE"])
        .arg(&path)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--command NOPE"));
}

/// Reads lines of a child's standard output on a thread, for waiting with a timeout.
fn lines_of(out: std::process::ChildStdout) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits (at most 20 s) for a line containing `what`; returns every line read until then.
fn wait_for(rx: &std::sync::mpsc::Receiver<String>, what: &str) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(l) => {
                let hit = l.contains(what);
                seen.push(l);
                if hit {
                    return seen;
                }
            }
            Err(_) => break,
        }
    }
    panic!("no line with {what:?} in time; got {seen:#?}");
}

/// The child, killed (by its own handle) if the test ends early.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_decode(args: &[&std::ffi::OsStr]) -> Child {
    let bin = assert_cmd::cargo::cargo_bin("diameter");
    let child = std::process::Command::new(bin)
        .arg("decode")
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    Child(child)
}

/// The capture of two connections cut after the first connection's CCR record.
fn two_parts() -> (Vec<u8>, Vec<u8>) {
    let frames = reused_tuple((500, 3_000));
    let first = pcap(&frames[..6]);
    let all = pcap(&frames);
    let rest = all[first.len()..].to_vec();
    (first, rest)
}

#[test]
fn a_live_pipe_is_decoded_as_bytes_arrive() {
    use std::io::Write;
    let (first, rest) = two_parts();
    let mut child = spawn_decode(&["-".as_ref()]);
    let rx = lines_of(child.0.stdout.take().expect("stdout"));
    let mut stdin = child.0.stdin.take().expect("stdin");
    stdin.write_all(&first[..first.len() - 30]).expect("write");
    stdin.write_all(&first[first.len() - 30..]).expect("write");
    stdin.flush().expect("flush");
    // The CCR of frame 6 is printed while the pipe is still open and the rest unsent.
    let seen = wait_for(&rx, "Diameter Credit-Control-Request (CCR)");
    assert!(seen.iter().any(|l| l.starts_with("Frame 4 ")), "{seen:#?}");
    assert!(!seen.iter().any(|l| l.contains("Answer (CCA)")));
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(rx.try_recv().map_or(true, |l| !l.contains("Frame 7 ")));
    stdin.write_all(&rest).expect("write");
    drop(stdin);
    let seen = wait_for(&rx, "Frame 21 ");
    assert!(seen.iter().any(|l| l.contains("Frame 7 ")), "{seen:#?}");
    let status = child.0.wait().expect("wait");
    assert!(status.success());
}

#[test]
fn a_growing_file_is_followed() {
    use std::io::Write;
    let (first, rest) = two_parts();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("live.pcap");
    std::fs::write(&path, &first).expect("write");
    let mut child = spawn_decode(&["--follow".as_ref(), path.as_os_str()]);
    let rx = lines_of(child.0.stdout.take().expect("stdout"));
    wait_for(&rx, "Diameter Credit-Control-Request (CCR)");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("open");
    f.write_all(&rest).expect("append");
    f.flush().expect("flush");
    let seen = wait_for(&rx, "Frame 21 ");
    assert!(seen.iter().any(|l| l.contains("Frame 7 ")), "{seen:#?}");
    // Still following: the process is alive until it is stopped.
    assert!(child.0.try_wait().expect("try_wait").is_none());
}

/// A vendor AVP (V flag, Vendor-Id 99999).
fn vendor_avp(code: u32, data: &[u8]) -> Vec<u8> {
    let mut a = code.to_be_bytes().to_vec();
    a.extend((0x8000_0000u32 | (12 + data.len() as u32)).to_be_bytes());
    a.extend(99999u32.to_be_bytes());
    a.extend(data);
    a.extend(vec![0u8; (4 - data.len() % 4) % 4]);
    a
}

#[test]
fn a_users_xml_dictionary_decodes_vendor_avps_and_commands_at_run_time() {
    let mut m = message(
        8388999,
        true,
        16777999,
        7,
        &[(263, b"s;9"), (264, b"client.example"), (296, b"example")],
    );
    m.extend(vendor_avp(1002, &1u32.to_be_bytes()));
    m.extend(vendor_avp(1001, b"gold-plan"));
    let len = m.len() as u32;
    m[1..4].copy_from_slice(&len.to_be_bytes()[1..]);
    let hex: String = m.iter().map(|b| format!("{b:02x}")).collect();
    diameter()
        .args(["decode", &hex])
        .assert()
        .success()
        .stdout(predicate::str::contains("Unknown AVP (1001) vnd=99999"))
        .stdout(predicate::str::contains("Diameter Unknown request"));
    let dict = fixture("vendor.xml");
    diameter()
        .args(["decode", "--dictionary"])
        .arg(&dict)
        .arg(&hex)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "Diameter Loyalty-Query-Request (LQR)",
        ))
        .stdout(predicate::str::contains(
            "Application-Id: 16777999 (Example Loyalty)",
        ))
        .stdout(predicate::str::contains(
            "AVP: Example-Tier (1002) vnd=99999 l=16 f=V--: GOLD (1)",
        ))
        .stdout(predicate::str::contains(
            "AVP: Example-Plan-Id (1001) vnd=99999 l=21 f=V--: \"gold-plan\"",
        ));
    // The command filter knows the user's commands too.
    let dir = tempfile::tempdir().expect("tempdir");
    let raw = dir.path().join("lq.bin");
    std::fs::write(&raw, &m).expect("write");
    diameter()
        .args(["decode", "--json", "--command", "LQR", "--dictionary"])
        .arg(&dict)
        .arg(&raw)
        .assert()
        .success()
        .stdout(predicate::str::contains("\"abbrev\": \"LQR\""));
    // A broken dictionary is refused with its file and line.
    let bad = dir.path().join("bad.xml");
    std::fs::write(
        &bad,
        "<dictionary name=\"bad\">\n  <avp name=\"X\" code=\"1\" type=\"Nope\"/>\n</dictionary>\n",
    )
    .expect("write");
    diameter()
        .args(["decode", "--dictionary"])
        .arg(&bad)
        .arg(&hex)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bad.xml:2:"));
}

/// The reused-port captures are also checked in (`tests/fixtures/*.pcap*`, to open in
/// Wireshark); they must equal what the generator above makes. `UPDATE_EXPECT=1` rewrites
/// them (and fails, so the change is reviewed).
#[test]
fn checked_in_capture_fixtures_are_current() {
    let cases = [
        (
            "reused-port-lower-seq.pcap",
            pcap(&reused_tuple((500, 3_000))),
        ),
        (
            "reused-port-higher-seq.pcapng",
            pcapng(&reused_tuple((2_000_000_000, 4_000_000_000))),
        ),
    ];
    let mut stale = Vec::new();
    for (name, bytes) in cases {
        let path = fixture(name);
        if std::fs::read(&path).ok().as_deref() != Some(&bytes[..]) {
            if std::env::var_os("UPDATE_EXPECT").is_some() {
                std::fs::write(&path, &bytes).expect("write fixture");
            }
            stale.push(name);
        }
        assert_eq!(decoded(&path).len(), 12, "{name}");
    }
    assert!(
        stale.is_empty(),
        "stale fixtures {stale:?}: run with UPDATE_EXPECT=1 and review"
    );
}
