//! `diameter bench --relay-compare`: our relay against freeDiameter's, behind each the
//! same template responder, loaded by the same client, in one run.
//!
//! Starts this executable as `serve template` (every request answered from a template,
//! undecoded: see `serve::template`) as `server.b.net`, and loads it directly (the
//! baseline: what the responder and the client can do without a relay). Then, in turn,
//! a relay in front of it, loaded with Destination-Realm `b.net`:
//! - `serve relay`, one relay route for `b.net` to the responder;
//! - `freeDiameterd` (where installed, or `--freediameter PATH`): its dictionaries of
//!   the charging AVPs loaded (`dict_nasreq`, `dict_dcca`, `dict_dcca_3gpp`), `rt_default`
//!   routing `b.net` to the responder, `acl_wl` admitting the load's peers.
//!
//! Before each measured run a probe waits (at most [`READY_WITHIN`]) for a first 2001
//! through the relay, so that the relay's connection to the responder is open. For each
//! run it reads the CPU time (utime + stime of `/proc/PID/stat`) of the relay and of the
//! responder before and after, and reports it per answer, with answers/s and the ratios
//! (ours against freeDiameter's).

use super::compare::{cpu_time, machine, ratio, setting_line, Measured, Server, TempDir};
use super::stats::Stats;
use super::{exit_status, load, run_rate, BenchArgs};
use crate::cli::exit::{CliError, CliResult, FAILURE, OK};
use serde_json::{json, Value as Json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The responder's identity; the relays route its realm to it.
const SERVER: &str = "server.b.net";
const SERVER_REALM: &str = "b.net";
/// freeDiameter's identity.
const FD_HOST: &str = "fd.relay.net";
const FD_REALM: &str = "relay.net";
/// How long a relay may take to reach the responder before the comparison gives up.
pub const READY_WITHIN: Duration = Duration::from_secs(20);
/// Where freeDiameter's extensions are (Debian package freediameter-extensions).
const FD_EXTENSIONS: &str = "/usr/lib/freeDiameter";

/// A run through a relay: the relay's CPU is `m.server_cpu`.
struct RelayRun {
    m: Measured,
    responder_cpu: Option<Duration>,
}

impl RelayRun {
    fn responder_us(&self) -> Option<f64> {
        self.m.per_answer(self.responder_cpu)
    }

    fn to_json(&self) -> Json {
        let mut v = self.m.to_json();
        if let Some(o) = v.as_object_mut() {
            o.remove("server_cpu_s");
            o.remove("server_cpu_us_per_answer");
        }
        // The template run has no relay: its measured server is the responder.
        let (relay, responder) = match self.m.name {
            "template" => (None, self.m.server_us()),
            _ => (self.m.server_us(), self.responder_us()),
        };
        v["relay_cpu_us_per_answer"] = json!(relay);
        v["responder_cpu_us_per_answer"] = json!(responder);
        v
    }
}

/// Runs `diameter bench --relay-compare`.
pub fn run(args: &BenchArgs, rt: &tokio::runtime::Runtime) -> CliResult {
    let dir = TempDir::new()?;
    let mut a = args.clone();
    a.destination_realm = Some(SERVER_REALM.to_owned());
    let responder = Server::this_exe(
        &[
            "serve",
            "template",
            "--listen",
            "127.0.0.1:0",
            "--origin-host",
            SERVER,
            "--origin-realm",
            SERVER_REALM,
        ]
        .map(str::to_owned),
        "template",
    )?;
    let mut runs = vec![measure(rt, &a, "template", &responder, None)?];
    {
        let relay = ours(&dir.0, &responder.addr)?;
        wait_ready(rt, &a, &relay.addr)?;
        runs.push(measure(rt, &a, "diameter_relay", &relay, Some(&responder))?);
    }
    let skipped = match freediameter_binary(args) {
        Ok(bin) => {
            let fd = freediameter(&bin, &dir.0, &responder.addr, &args.origin_realm)?;
            wait_ready(rt, &a, &fd.addr)?;
            runs.push(measure(rt, &a, "freediameter", &fd, Some(&responder))?);
            None
        }
        Err(why) => Some(why),
    };
    let find = |name: &str| runs.iter().find(|r| r.m.name == name);
    let (ours_run, fd_run) = (find("diameter_relay"), find("freediameter"));
    let answers_ratio = ratio(
        ours_run.map(|r| r.m.answers_per_s()),
        fd_run.map(|r| r.m.answers_per_s()),
    );
    let cpu_ratio = ratio(
        fd_run.and_then(|r| r.m.server_us()),
        ours_run.and_then(|r| r.m.server_us()),
    );
    let machine = machine();
    if args.json {
        let mut v = json!({
            "machine": machine,
            "freediameter_skipped": skipped,
            "ratio_ours_to_freediameter": {
                "answers_per_s": answers_ratio,
                "freediameter_relay_cpu_per_answer_to_ours": cpu_ratio,
            },
        });
        for r in &runs {
            v[r.m.name] = r.to_json();
        }
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        print!("{}", text(&runs, &machine, answers_ratio, cpu_ratio, args));
        if let Some(why) = &skipped {
            println!("  freeDiameter skipped: {why}");
        }
    }
    Ok(if runs.iter().all(|r| exit_status(&r.m.stats) == OK) {
        OK
    } else {
        FAILURE
    })
}

/// Runs the load through `relay` (or against the responder itself), measuring the CPU of
/// the relay, of the responder behind it and of this client.
fn measure(
    rt: &tokio::runtime::Runtime,
    args: &BenchArgs,
    name: &'static str,
    relay: &Server,
    responder: Option<&Server>,
) -> Result<RelayRun, CliError> {
    let cpu = |s: Option<&Server>| s.and_then(Server::cpu);
    let (r0, s0, c0) = (relay.cpu(), cpu(responder), cpu_time("/proc/self/stat"));
    let (stats, info) = rt.block_on(load(args, &relay.addr, run_rate(args.rate)))?;
    let (r1, s1, c1) = (relay.cpu(), cpu(responder), cpu_time("/proc/self/stat"));
    let diff = |a: Option<Duration>, b: Option<Duration>| Some(b?.saturating_sub(a?));
    Ok(RelayRun {
        m: Measured {
            name,
            stats,
            info,
            server_cpu: diff(r0, r1),
            client_cpu: diff(c0, c1),
        },
        responder_cpu: diff(s0, s1),
    })
}

/// Waits until one request through `addr` is answered 2001 (the relay has its route up).
fn wait_ready(rt: &tokio::runtime::Runtime, args: &BenchArgs, addr: &str) -> Result<(), CliError> {
    let mut probe = args.clone();
    probe.connections = 1;
    probe.outstanding = 1;
    probe.count = Some(1);
    probe.rate = 0.0;
    probe.duration = Duration::from_secs(2);
    probe.timeout = Duration::from_secs(2);
    probe.json = true;
    probe.interval = None;
    let deadline = Instant::now() + READY_WITHIN;
    let mut last = String::from("no answer");
    while Instant::now() < deadline {
        match rt.block_on(load(&probe, addr, None)) {
            Ok((s, _)) if answered_2001(&s) => return Ok(()),
            Ok((s, _)) => last = format!("result codes {:?}", s.result_codes),
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(CliError::failure(format!(
        "the relay on {addr} did not reach the responder within {READY_WITHIN:?} ({last})"
    )))
}

fn answered_2001(s: &Stats) -> bool {
    s.result_codes.get(&2001).is_some_and(|n| *n > 0)
}

/// Starts `serve relay` with one relay route for the responder's realm.
fn ours(dir: &Path, responder: &str) -> Result<Server, CliError> {
    let conf = dir.join("relay.toml");
    write(
        &conf,
        &format!(
            "listen = \"127.0.0.1:0\"\n\
             origin_host = \"dra.relay.net\"\n\
             origin_realm = \"relay.net\"\n\
             accept_any = true\n\
             [[peers]]\n\
             host = \"{SERVER}\"\n\
             address = \"{responder}\"\n\
             [[routes]]\n\
             realm = \"{SERVER_REALM}\"\n\
             action = \"relay\"\n\
             servers = [\"{SERVER}\"]\n"
        ),
    )?;
    let args = ["serve".to_owned(), "relay".into(), "--config".into()];
    Server::this_exe(
        &[&args[..], &[conf.display().to_string()]].concat(),
        "relay",
    )
}

/// `--freediameter`, else `freeDiameterd` on PATH, and its extensions; or why not.
fn freediameter_binary(args: &BenchArgs) -> Result<PathBuf, String> {
    let bin = match &args.freediameter {
        Some(p) => p.clone(),
        None => find_on_path("freeDiameterd")
            .ok_or("freeDiameterd is not installed (Debian package freediameterd)".to_owned())?,
    };
    find_on_path("openssl").ok_or("openssl is needed for freeDiameter's credentials")?;
    let missing: Vec<&str> = FD_EXTENSION_NAMES
        .iter()
        .copied()
        .filter(|e| !extension(e).is_file())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "freeDiameter extensions {missing:?} are not installed (Debian package freediameter-extensions)"
        ));
    }
    Ok(bin)
}

/// The extensions freeDiameter runs with here.
const FD_EXTENSION_NAMES: &[&str] = &[
    "dict_nasreq",
    "dict_dcca",
    "dict_dcca_3gpp",
    "rt_default",
    "acl_wl",
];

fn extension(name: &str) -> PathBuf {
    Path::new(FD_EXTENSIONS).join(format!("{name}.fdx"))
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn write(path: &Path, text: &str) -> Result<(), CliError> {
    std::fs::write(path, text)
        .map_err(|e| CliError::failure(format!("cannot write {}: {e}", path.display())))
}

/// A free TCP port on 127.0.0.1 (freeDiameter cannot listen on port 0 and tell us).
fn free_port() -> Result<u16, CliError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| CliError::failure(format!("no free port on 127.0.0.1: {e}")))
}

/// Starts freeDiameterd as a relay on 127.0.0.1 in front of the responder.
fn freediameter(
    bin: &Path,
    dir: &Path,
    responder: &str,
    client_realm: &str,
) -> Result<Server, CliError> {
    let (cert, key) = (dir.join("fd-cert.pem"), dir.join("fd-key.pem"));
    // freeDiameter insists on TLS credentials even when no peer uses TLS.
    let st = Command::new("openssl")
        .args(["req", "-new", "-batch", "-x509", "-days", "2", "-nodes"])
        .args(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"])
        .arg("-subj")
        .arg(format!("/CN={FD_HOST}"))
        .arg("-out")
        .arg(&cert)
        .arg("-keyout")
        .arg(&key)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map_err(|e| CliError::failure(format!("cannot run openssl: {e}")))?;
    if !st.success() {
        return Err(CliError::failure("openssl could not make a certificate"));
    }
    let (rt_conf, acl_conf) = (dir.join("rt_default.conf"), dir.join("acl_wl.conf"));
    write(
        &rt_conf,
        &format!("dr=\"{SERVER_REALM}\" : \"{SERVER}\" += 100 ;\n"),
    )?;
    // The load's peers (bench-N.REALM) connect without TLS.
    write(&acl_conf, &format!("ALLOW_IPSEC *.{client_realm}\n"))?;
    let (host, port) = responder
        .rsplit_once(':')
        .ok_or_else(|| CliError::failure(format!("bad responder address {responder}")))?;
    // The port is picked before freeDiameter binds it, so another process may take it in
    // between: then freeDiameter ends at start, and another port is tried.
    let mut tries = 3;
    loop {
        let listen = free_port()?;
        let text = fd_config(listen, &cert, &key, (&rt_conf, &acl_conf), (host, port));
        let conf = dir.join("freeDiameter.conf");
        write(&conf, &text)?;
        let mut cmd = Command::new(bin);
        cmd.arg("-c").arg(&conf);
        let addr = format!("127.0.0.1:{listen}");
        let started = Server::spawn(cmd, "freeDiameterd", move |line| {
            line.contains("daemon initialized").then(|| addr.clone())
        });
        tries -= 1;
        if started.is_ok() || tries == 0 {
            return started;
        }
    }
}

/// freeDiameter's configuration: listening on 127.0.0.1:`listen` (plain TCP), relaying to
/// the responder at `host:port` by realm, with the rt_default and acl_wl files `confs`.
fn fd_config(
    listen: u16,
    cert: &Path,
    key: &Path,
    (rt_conf, acl_conf): (&Path, &Path),
    (host, port): (&str, &str),
) -> String {
    let mut text = format!(
        "Identity = \"{FD_HOST}\";\n\
         Realm = \"{FD_REALM}\";\n\
         Port = {listen};\n\
         SecPort = 0;\n\
         ListenOn = \"127.0.0.1\";\n\
         No_SCTP;\n\
         No_IPv6;\n\
         TLS_Cred = \"{}\", \"{}\";\n\
         TLS_CA = \"{}\";\n",
        cert.display(),
        key.display(),
        cert.display()
    );
    for e in ["dict_nasreq", "dict_dcca", "dict_dcca_3gpp"] {
        text.push_str(&format!(
            "LoadExtension = \"{}\";\n",
            extension(e).display()
        ));
    }
    for (e, conf) in [("rt_default", rt_conf), ("acl_wl", acl_conf)] {
        text.push_str(&format!(
            "LoadExtension = \"{}\" : \"{}\";\n",
            extension(e).display(),
            conf.display()
        ));
    }
    text.push_str(&format!(
        "ConnectPeer = \"{SERVER}\" {{ ConnectTo = \"{host}\"; Port = {port}; No_TLS; No_SCTP; }};\n"
    ));
    text
}

fn text(
    runs: &[RelayRun],
    machine: &Json,
    answers_ratio: Option<f64>,
    cpu_ratio: Option<f64>,
    args: &BenchArgs,
) -> String {
    use std::fmt::Write;
    let opt = |v: Option<f64>, prec: usize| v.map_or("-".into(), |v| format!("{v:.prec$}"));
    let mut out = setting_line(args, machine);
    let _ = writeln!(
        out,
        "  {:<15} {:>10} {:>9} {:>9} {:>13} {:>17} {:>14} {:>7}",
        "run",
        "answers/s",
        "p50 ms",
        "p99 ms",
        "relay µs/ans",
        "responder µs/ans",
        "client µs/ans",
        "failed"
    );
    for r in runs {
        let h = &r.m.stats.latency;
        let q = |p: f64| match r.m.stats.answered() {
            0 => 0.0,
            _ => h.value_at_quantile(p) as f64 / 1000.0,
        };
        // The template run has no relay: its "server" is the responder.
        let (relay, responder) = match r.m.name {
            "template" => (None, r.m.server_us()),
            _ => (r.m.server_us(), r.responder_us()),
        };
        let _ = writeln!(
            out,
            "  {:<15} {:>10.0} {:>9.3} {:>9.3} {:>13} {:>17} {:>14} {:>7}",
            r.m.name,
            r.m.answers_per_s(),
            q(0.5),
            q(0.99),
            opt(relay, 2),
            opt(responder, 2),
            opt(r.m.client_us(), 2),
            r.m.stats.timeouts + r.m.stats.errors,
        );
    }
    let _ = writeln!(
        out,
        "  ours vs freeDiameter: answers/s {}x (target >= 6), freeDiameter's relay CPU per answer {}x ours",
        opt(answers_ratio, 2),
        opt(cpu_ratio, 2)
    );
    out
}
