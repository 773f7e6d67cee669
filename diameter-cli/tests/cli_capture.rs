//! `diameter decode` of a capture of our own traffic made by Wireshark's dumpcap, checked
//! against tshark's own Diameter dissector: the same messages, in the same order.
//!
//! Skipped with a message when dumpcap/tshark are missing or capturing on the loopback is
//! not permitted, unless `REQUIRE_TSHARK` is set.

mod cli_support;

use assert_cmd::Command;
use std::io::BufRead;
use std::process::{Command as Process, Stdio};
use std::time::Duration;

fn skip(why: &str) {
    assert!(
        std::env::var_os("REQUIRE_TSHARK").is_none(),
        "REQUIRE_TSHARK is set but {why}"
    );
    eprintln!("skipped: {why}");
}

/// dumpcap, killed by its own pid when dropped if it is still running.
struct Capture(std::process::Child);

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn diameter() -> Command {
    let mut c = Command::cargo_bin("diameter").expect("binary");
    c.env("NO_COLOR", "1").env_remove("RUST_LOG");
    c.timeout(Duration::from_secs(30));
    c
}

#[test]
fn decode_a_dumpcap_capture_of_send_like_tshark() {
    if Process::new("tshark").arg("--version").output().is_err()
        || Process::new("dumpcap").arg("--version").output().is_err()
    {
        return skip("tshark or dumpcap is not installed");
    }
    let server = cli_support::start();
    let port = server.addr.port();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("own.pcapng");
    let mut child = match Process::new("dumpcap")
        .args([
            "-i",
            "lo",
            "-f",
            &format!("tcp port {port}"),
            "-a",
            "duration:8",
            "-q",
            "-w",
        ])
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return skip(&format!("dumpcap does not start: {e}")),
    };
    let stderr = child.stderr.take().expect("stderr");
    let mut capture = Capture(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    match rx.recv_timeout(Duration::from_secs(5)) {
        Ok(l) if l.contains("Capturing on") => {}
        other => return skip(&format!("dumpcap cannot capture on lo: {other:?}")),
    }
    std::thread::sleep(Duration::from_millis(300));
    let peer = server.addr.to_string();
    diameter()
        .args(["send", "ccr", "--peer", &peer])
        .assert()
        .success();
    diameter()
        .args(["send", "uar", "--peer", &peer])
        .assert()
        .success();
    std::thread::sleep(Duration::from_millis(500));
    // Stop dumpcap early with SIGINT-like termination; it finishes the file on exit.
    let _ = Process::new("kill")
        .args(["-INT", &capture.0.id().to_string()])
        .status();
    let _ = capture.0.wait();

    let tshark = Process::new("tshark")
        .arg("-r")
        .arg(&file)
        .args(["-d", &format!("tcp.port=={port},diameter")])
        .args(["-Y", "diameter", "-T", "fields", "-E", "occurrence=a"])
        .args(["-e", "diameter.cmd.code", "-e", "diameter.flags.request"])
        .output()
        .expect("tshark");
    assert!(
        tshark.status.success(),
        "{}",
        String::from_utf8_lossy(&tshark.stderr)
    );
    let theirs: Vec<(u32, bool)> = String::from_utf8_lossy(&tshark.stdout)
        .lines()
        .flat_map(|l| {
            let mut f = l.split('\t');
            let codes: Vec<u32> = f
                .next()
                .unwrap_or("")
                .split(',')
                .filter_map(|c| c.parse().ok())
                .collect();
            let reqs: Vec<bool> = f
                .next()
                .unwrap_or("")
                .split(',')
                .map(|r| r == "1" || r == "True")
                .collect();
            codes.into_iter().zip(reqs).collect::<Vec<_>>()
        })
        .collect();

    let out = diameter()
        .args(["decode", "--json"])
        .arg(&file)
        .output()
        .expect("decode");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let ours: Vec<(u32, bool)> = v
        .as_array()
        .expect("array")
        .iter()
        .map(|m| {
            (
                m["command"]["code"].as_u64().unwrap_or(0) as u32,
                m["flags"]["request"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    // CER/CEA, CCR/CCA, DPR/DPA for the first send; the same with UAR/UAA for the second.
    assert!(
        ours.contains(&(272, true)) && ours.contains(&(272, false)),
        "{ours:?}"
    );
    assert!(
        ours.contains(&(283, true)) && ours.contains(&(283, false)),
        "{ours:?}"
    );
    assert!(ours.iter().filter(|m| m.0 == 257).count() >= 4, "{ours:?}");
    assert_eq!(
        ours, theirs,
        "decode and tshark see the same messages in order"
    );
}

/// `dumpcap -w - | diameter decode -`: each message is printed while the capture is still
/// running, not when the pipe closes.
#[test]
fn decode_a_live_dumpcap_pipe_as_packets_arrive() {
    if Process::new("dumpcap").arg("--version").output().is_err() {
        return skip("dumpcap is not installed");
    }
    let server = cli_support::start();
    let port = server.addr.port();
    let mut child = match Process::new("dumpcap")
        .args(["-i", "lo", "-f", &format!("tcp port {port}")])
        .args(["-a", "duration:30", "-q", "-w", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return skip(&format!("dumpcap does not start: {e}")),
    };
    let stderr = child.stderr.take().expect("stderr");
    let pipe = child.stdout.take().expect("stdout");
    let mut capture = Capture(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    match rx.recv_timeout(Duration::from_secs(5)) {
        Ok(l) if l.contains("Capturing on") => {}
        other => return skip(&format!("dumpcap cannot capture on lo: {other:?}")),
    }
    let bin = assert_cmd::cargo::cargo_bin("diameter");
    let mut decode = Capture(
        Process::new(bin)
            .args(["decode", "-"])
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .stdin(Stdio::from(pipe))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("decode"),
    );
    let out = decode.0.stdout.take().expect("stdout");
    let (ltx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            let _ = ltx.send(line);
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    diameter()
        .args(["send", "ccr", "--peer", &server.addr.to_string()])
        .assert()
        .success();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match lines.recv_timeout(left) {
            Ok(l) if l.contains("Credit-Control-Answer (CCA)") => break,
            Ok(l) => seen.push(l),
            Err(_) => panic!("no CCA printed while dumpcap runs; got {seen:#?}"),
        }
    }
    assert!(
        capture.0.try_wait().expect("try_wait").is_none(),
        "dumpcap is still capturing"
    );
    assert!(seen
        .iter()
        .any(|l| l.contains("answer to frame") || l.contains("Credit-Control-Request")));
}
