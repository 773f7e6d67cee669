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
