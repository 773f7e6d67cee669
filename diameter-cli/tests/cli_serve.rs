//! `diameter serve`: flags and configuration files, and errors that name file and line.

mod cli_support;

use assert_cmd::Command;
use predicates::prelude::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn diameter() -> Command {
    let mut c = Command::cargo_bin("diameter").expect("binary");
    c.env("NO_COLOR", "1").env_remove("RUST_LOG");
    c
}

/// `diameter serve SERVER --check --config FILE`, run.
fn check(server: &str, config: &Path) -> assert_cmd::assert::Assert {
    diameter()
        .args(["serve", server, "--check", "--config"])
        .arg(config)
        .assert()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

#[test]
fn ocs_flags_override_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write(
        dir.path(),
        "ocs.toml",
        "listen = \"127.0.0.1:3900\"\norigin_host = \"ocs.example.net\"\nstore = \"sqlite://x.db\"\nauto_provision = 5\n",
    );
    diameter()
        .args(["serve", "ocs", "--check", "--config"])
        .arg(&cfg)
        .args(["--auto-provision", "100", "--origin-realm", "other.net"])
        .assert()
        .success()
        .stdout(predicate::str::contains("listen        127.0.0.1:3900"))
        .stdout(predicate::str::contains("origin_host   ocs.example.net"))
        .stdout(predicate::str::contains("origin_realm  other.net"))
        .stdout(predicate::str::contains("store         sqlite://x.db"))
        .stdout(predicate::str::contains("auto_provision 100"));
}

#[test]
fn ocs_engine_keys_are_checked_and_shown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write(
        dir.path(),
        "ocs.toml",
        "engine_checkpoint_interval_ms = 250\nengine_journal_syncers = 2\nengine_journal_interval_us = 400\nengine_outcome_bytes = 1024\n",
    );
    check("ocs", &cfg)
        .success()
        .stdout(predicate::str::contains(
            "engine        checkpoint every 250 ms or 100000 records, backlog 2000000, 2 journal syncers (overlap after 2 ms, 400 µs apart), outcomes 1024 bytes, filter 4194304 keys",
        ));
    let bad = write(dir.path(), "bad.toml", "engine_journal_syncers = 0\n");
    check("ocs", &bad)
        .code(2)
        .stderr(predicate::str::contains("engine_journal_syncers = 0"));
}

#[test]
fn ocs_store_may_put_its_journal_apart_and_other_parameters_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write(
        dir.path(),
        "ocs.toml",
        "store = \"sqlite://x.db?journal_dir=/journal/ocs\"\n",
    );
    check("ocs", &cfg)
        .success()
        .stdout(predicate::str::contains(
            "store         sqlite://x.db?journal_dir=/journal/ocs",
        ));
    let bad = write(
        dir.path(),
        "bad.toml",
        "store = \"sqlite://x.db?journal=/j\"\n",
    );
    check("ocs", &bad)
        .code(2)
        .stderr(predicate::str::contains("bad.toml:1"))
        .stderr(predicate::str::contains("unknown parameter"))
        .stderr(predicate::str::contains("journal_dir=DIR"));
}

#[test]
fn ocs_peer_groups_are_shown_and_an_empty_one_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let peers = "[[peers]]\nhost = \"dra1.example.net\"\ngroup = \"dra\"\n\n\
                 [[peers]]\nhost = \"dra2.example.net\"\ngroup = \"dra\"\n";
    let cfg = write(dir.path(), "ocs.toml", peers);
    check("ocs", &cfg)
        .success()
        .stdout(predicate::str::contains(
            "dra1.example.net (accept only) group dra",
        ))
        .stdout(predicate::str::contains(
            "dra2.example.net (accept only) group dra",
        ));
    let bad = write(
        dir.path(),
        "bad.toml",
        "[[peers]]\nhost = \"dra1.example.net\"\ngroup = \"\"\n",
    );
    check("ocs", &bad)
        .code(2)
        .stderr(predicate::str::contains("bad.toml:3"))
        .stderr(predicate::str::contains("empty group"));
}

#[test]
fn io_threads_come_from_the_file_or_the_flag() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write(dir.path(), "relay.toml", "io_threads = 3\n");
    check("relay", &cfg)
        .success()
        .stdout(predicate::str::contains(
            "io_threads    3 (one single-threaded runtime each)",
        ));
    diameter()
        .args(["serve", "ocs", "--check", "--io-threads", "0"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "io_threads    0 (connections on the shared runtime)",
        ));
    // A relay's default is half the CPUs: its requests cross connections, and so threads.
    let half = std::thread::available_parallelism()
        .map_or(1, |n| n.get() / 2)
        .max(1);
    let plain = write(
        dir.path(),
        "plain.toml",
        "origin_host = \"dra.example.net\"\n",
    );
    check("relay", &plain)
        .success()
        .stdout(predicate::str::contains(format!(
            "io_threads    {half} (one single-threaded runtime each)"
        )));
    let bad = write(dir.path(), "bad.toml", "io_threads = \"many\"\n");
    check("sip", &bad)
        .code(2)
        .stderr(predicate::str::contains("io_threads"));
}

#[test]
fn ocs_defaults() {
    diameter()
        .args(["serve", "ocs", "--check"])
        .assert()
        .success()
        .stdout(predicate::str::contains("listen        0.0.0.0:3868"));
}

#[test]
fn unknown_key_names_file_line_and_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write(
        dir.path(),
        "ocs.toml",
        "# OCS\norigin_host = \"ocs.example.net\"\nauto_provison = 100\n",
    );
    check("ocs", &cfg)
        .code(2)
        .stderr(predicate::str::contains(
            "ocs.toml:3:1: unknown field `auto_provison`",
        ))
        .stderr(predicate::str::contains("3 | auto_provison = 100"))
        .stderr(predicate::str::contains("= fix:"));
}

#[test]
fn bad_values_name_file_line_and_fix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write(dir.path(), "ocs.toml", "\n\nlisten = \"localhost\"\n");
    check("ocs", &cfg)
        .code(2)
        .stderr(predicate::str::contains(
            "ocs.toml:3:10: listen = \"localhost\" is not an address and port",
        ))
        .stderr(predicate::str::contains("fix: write it as \"ADDR:PORT\""));
    let cfg = write(dir.path(), "sip.toml", "origin_host = \"bad host!\"\n");
    check("sip", &cfg).code(2).stderr(predicate::str::contains(
        "sip.toml:1:15: origin_host \"bad host!\" is not a DiameterIdentity",
    ));
    let cfg = write(dir.path(), "syntax.toml", "origin_host = ocs\n");
    check("ocs", &cfg)
        .code(2)
        .stderr(predicate::str::contains("syntax.toml:1:"));
}

#[test]
fn relay_routing_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write(
        dir.path(),
        "dra.toml",
        r#"origin_host = "dra.example.net"
listen = "127.0.0.1:3999"

[[peers]]
host = "ocs1.example.net"
address = "127.0.0.1:3868"

[[peers]]
host = "hss.example.net"

[[routes]]
realm = "ocs.example.net"
application = 4
action = "relay"
servers = ["ocs1.example.net"]

[[routes]]
action = "redirect"
servers = ["hss.example.net"]
"#,
    );
    check("relay", &cfg)
        .success()
        .stdout(predicate::str::contains(
            "peer          ocs1.example.net 127.0.0.1:3868",
        ))
        .stdout(predicate::str::contains(
            "peer          hss.example.net (accept only)",
        ))
        .stdout(predicate::str::contains(
            "route         realm=ocs.example.net app=4 Relay -> [ocs1.example.net]",
        ))
        .stdout(predicate::str::contains(
            "route         realm=* app=* Redirect -> [hss.example.net]",
        ));
}

#[test]
fn relay_unknown_server_and_action() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write(
        dir.path(),
        "dra.toml",
        "[[peers]]\nhost = \"a.example.net\"\n\n[[routes]]\naction = \"relay\"\nservers = [\"b.example.net\"]\n",
    );
    check("relay", &cfg)
        .code(2)
        .stderr(predicate::str::contains(
            "dra.toml:6:12: server \"b.example.net\" is not a configured peer",
        ))
        .stderr(predicate::str::contains(
            "fix: add a [[peers]] entry with host = \"b.example.net\"",
        ));
    let cfg = write(
        dir.path(),
        "dra2.toml",
        "[[routes]]\naction = \"forward\"\n",
    );
    check("relay", &cfg)
        .code(2)
        .stderr(predicate::str::contains(
            "dra2.toml:2:10: unknown variant `forward`",
        ));
    diameter()
        .args([
            "serve",
            "relay",
            "--check",
            "--config",
            "/nonexistent/dra.toml",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "/nonexistent/dra.toml: cannot read",
        ));
}

#[test]
fn usage_errors_exit_2_and_help_has_examples() {
    diameter()
        .args(["serve", "ocs", "--listen", "nope"])
        .assert()
        .code(2);
    diameter().arg("frobnicate").assert().code(2);
    for cmd in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["serve", "ocs", "--help"],
        vec!["serve", "sip", "--help"],
        vec!["serve", "relay", "--help"],
        vec!["decode", "--help"],
        vec!["dict", "--help"],
        vec!["dict", "avp", "--help"],
    ] {
        diameter()
            .args(&cmd)
            .assert()
            .success()
            .stdout(predicate::str::contains("Example"));
    }
    diameter()
        .arg("--help")
        .assert()
        .stdout(predicate::str::contains("Exit codes:"));
}

#[test]
fn relay_forwards_a_ccr_to_the_server() {
    let server = cli_support::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write(
        dir.path(),
        "dra.toml",
        &format!(
            r#"origin_host = "dra.relay.net"
origin_realm = "relay.net"
listen = "127.0.0.1:0"
accept_any = true

[[peers]]
host = "ocs.localdomain"
address = "{}"

[[routes]]
realm = "localdomain"
action = "relay"
servers = ["ocs.localdomain"]
"#,
            server.addr
        ),
    );
    let (_relay, addr) =
        cli_support::spawn_server(&["serve", "relay", "--config", cfg.to_str().expect("path")]);
    // The relay connects to the server in the background: retry for a few seconds.
    let end = Instant::now() + Duration::from_secs(15);
    let mut last = None;
    while Instant::now() < end {
        let out = diameter()
            .args(["send", "ccr", "--timeout", "3s", "--peer", &addr])
            .output()
            .expect("run");
        if out.status.success() {
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains("2001 (DIAMETER_SUCCESS)"), "{text}");
            assert!(
                text.contains("Origin-Host (264) l=23 f=-M-: \"ocs.localdomain\""),
                "{text}"
            );
            return;
        }
        last = Some(out);
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("no answer through the relay: {last:?}");
}

#[test]
fn ocs_and_sip_peers_and_timers_from_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write(
        dir.path(),
        "ocs.toml",
        "tcc = 600\nvalidity_time = 60\n\n[[peers]]\nhost = \"dra.example.net\"\naddress = \"127.0.0.1:3999\"\n",
    );
    check("ocs", &cfg)
        .success()
        .stdout(predicate::str::contains("tcc           600 s"))
        .stdout(predicate::str::contains("validity_time 60 s"))
        .stdout(predicate::str::contains(
            "peer          dra.example.net 127.0.0.1:3999",
        ));
    let cfg = write(
        dir.path(),
        "sip.toml",
        "[[peers]]\nhost = \"dra.example.net\"\naddress = \"dra:3868\"\n",
    );
    check("sip", &cfg).code(2).stderr(predicate::str::contains(
        "sip.toml:3:11: address \"dra:3868\" is not an address and port",
    ));
}

#[test]
fn sip_rights_and_windows_from_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write(
        dir.path(),
        "sip.toml",
        "auth_window = 120\nnonce_lifetime = 60\nmax_auth_items = 3\nauthorization_lifetime = 0\nauth_grace_period = 5\nmax_sessions = 7\nmax_session_bytes = 4096\nsession_sweep_ms = 250\n\n[[peers]]\nhost = \"sip1.example.net\"\n\n[[peers]]\nhost = \"sip2.example.net\"\ncredentials = true\n",
    );
    check("sip", &cfg)
        .success()
        .stdout(predicate::str::contains("auth_window   120 s"))
        .stdout(predicate::str::contains("nonce_lifetime 60 s"))
        .stdout(predicate::str::contains("max_auth_items 3"))
        .stdout(predicate::str::contains("authorization_lifetime none"))
        .stdout(predicate::str::contains("auth_grace_period 5 s"))
        .stdout(predicate::str::contains("max_sessions  7"))
        .stdout(predicate::str::contains("max_session_bytes 4096"))
        .stdout(predicate::str::contains("session_sweep 250 ms"))
        .stdout(predicate::str::contains(
            "credentials   sip2.example.net (receives Digest-HA1)",
        ))
        .stdout(predicate::str::contains("credentials   sip1.example.net").not());
    // The defaults, and nobody gets Digest-HA1.
    diameter()
        .args(["serve", "sip", "--check"])
        .assert()
        .success()
        .stdout(predicate::str::contains("auth_window   600 s"))
        .stdout(predicate::str::contains("nonce_lifetime 300 s"))
        .stdout(predicate::str::contains("max_auth_items 5"))
        .stdout(predicate::str::contains("authorization_lifetime 3600 s"))
        .stdout(predicate::str::contains("auth_grace_period 60 s"))
        .stdout(predicate::str::contains("max_sessions  65536"))
        .stdout(predicate::str::contains("session_sweep 1000 ms"))
        .stdout(predicate::str::contains("credentials").not());
    let cfg = write(dir.path(), "zero.toml", "auth_window = 0\n");
    check("sip", &cfg)
        .code(2)
        .stderr(predicate::str::contains("auth_window = 0 is not allowed"));
}

#[test]
fn ocs_check_loads_the_tariffs_and_accounts_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = write(
        dir.path(),
        "bad-tariffs.toml",
        "currency = 978\n[[tariff]]\nname = \"x\"\n",
    );
    diameter()
        .args(["serve", "ocs", "--check", "--tariffs"])
        .arg(&bad)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bad-tariffs.toml"));
    let good = write(
        dir.path(),
        "tariffs.toml",
        "currency = 978\nexponent = 2\n[[tariff]]\nname = \"data\"\nunit = \"total_octets\"\nblock = 1000\nprice = 1\ndefault_quota = 1000\n",
    );
    diameter()
        .args(["serve", "ocs", "--check", "--tariffs"])
        .arg(&good)
        .assert()
        .success()
        .stdout(predicate::str::contains("(1 tariffs)"));
    let accounts = write(dir.path(), "accounts.toml", "this is not toml [");
    diameter()
        .args(["serve", "ocs", "--check", "--accounts"])
        .arg(&accounts)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("accounts.toml"));
}

#[test]
fn check_never_prints_a_database_password() {
    diameter()
        .args([
            "serve",
            "ocs",
            "--check",
            "--store",
            "postgres://ocs:hunter2@db.example/ocs",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "postgres://ocs:***@db.example/ocs",
        ))
        .stdout(predicate::str::contains("hunter2").not());
}

/// Starts `serve ocs` in `dir` with `extra` flags, reads its log until it serves, stops it,
/// and returns the log lines.
fn startup_log(dir: &Path, extra: &[&str]) -> Vec<String> {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_diameter"))
        .current_dir(dir)
        .args(["serve", "ocs", "--listen", "127.0.0.1:0"])
        .args(extra)
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start serve ocs");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let end = Instant::now() + Duration::from_secs(20);
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) => {
                let done = line.contains("ocs: serving");
                lines.push(line);
                if done {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        lines.iter().any(|l| l.contains("ocs: serving")),
        "the server did not start: {lines:?}"
    );
    lines
}

#[test]
fn demo_tariffs_are_announced_with_a_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = startup_log(dir.path(), &[]);
    assert!(
        log.iter()
            .any(|l| l.contains("WARN") && l.contains("built-in demo tariffs")),
        "{log:?}"
    );
    let tariffs = write(
        dir.path(),
        "tariffs.toml",
        "currency = 978\nexponent = 2\n[[tariff]]\nname = \"data\"\nunit = \"total_octets\"\nblock = 1000\nprice = 1\ndefault_quota = 1000\n",
    );
    let log = startup_log(dir.path(), &["--tariffs", tariffs.to_str().expect("path")]);
    assert!(!log.iter().any(|l| l.contains("demo tariffs")), "{log:?}");
}

/// `serve ocs --check` on a wildcard address shows the host's addresses as Host-IP-Address
/// (what the CEA will carry), not loopback when the host has another address.
#[test]
fn ocs_check_shows_the_host_addresses_of_a_wildcard() {
    let want = diameter_apps::host_addrs::host_ip_addresses(&["0.0.0.0:3868".parse().unwrap()]);
    let want: Vec<String> = want.iter().map(|ip| ip.to_string()).collect();
    let out = diameter()
        .args(["serve", "ocs", "--check", "--listen", "0.0.0.0:3868"])
        .output()
        .expect("run");
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("host_ip"))
        .expect("a host_ip line");
    if !want.is_empty() {
        assert_eq!(line, format!("host_ip       {}", want.join(", ")));
    }
    // A specific address is advertised as it is.
    diameter()
        .args(["serve", "ocs", "--check", "--listen", "127.0.0.1:3868"])
        .assert()
        .success()
        .stdout(predicate::str::contains("host_ip       127.0.0.1\n"));
}
