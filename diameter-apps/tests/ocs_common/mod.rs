//! Helpers shared by the OCS integration tests.
#![allow(dead_code)]

// Also a module of `tests/interop`, which some OCS tests include beside this one.
#[allow(clippy::duplicate_mod)]
#[path = "../../../tests/interop/free_port.rs"]
mod free_port;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Adds an account with one E.164 Subscription-Id and `balance` minor units of euro
/// (currency 978); returns its id.
pub fn add_e164(
    store: &dyn diameter_apps::ocs::store::Store,
    msisdn: &str,
    balance: i64,
) -> diameter_apps::ocs::store::AccountId {
    use diameter_apps::ocs::store::{IdKind, NewAccount, SubscriberId};
    store
        .add_account(&NewAccount::new(
            vec![SubscriberId::new(IdKind::E164, msisdn)],
            balance,
            978,
        ))
        .expect("account added")
}

/// A private PostgreSQL cluster in a temp dir, listening only on a Unix socket there
/// (and on a free port number, used for the socket name). Stopped by PID on drop.
pub struct PgCluster {
    dir: PathBuf,
    pub url: String,
    pid: Option<u32>,
}

fn pg_bin() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists() && p.join("pg_ctl").exists())
        .collect();
    dirs.sort();
    dirs.pop()
}

pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Runs a PostgreSQL binary, as the `postgres` user when we are root.
fn run_pg(bin: &Path, args: &[&str]) -> std::io::Result<std::process::Output> {
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin);
        c
    } else {
        Command::new(bin)
    };
    cmd.args(args).output()
}

impl PgCluster {
    /// Starts a cluster, or returns `None` (with a message) when PostgreSQL is absent.
    pub fn start() -> Option<PgCluster> {
        Self::start_with("")
    }

    /// [`PgCluster::start`] with more server options (`-c name=value ...`, after ours).
    pub fn start_with(extra: &str) -> Option<PgCluster> {
        let Some(bin) = pg_bin() else {
            assert!(
                std::env::var_os("REQUIRE_INTEROP").is_none(),
                "no /usr/lib/postgresql/*/bin/initdb and REQUIRE_INTEROP is set"
            );
            eprintln!("SKIP: no /usr/lib/postgresql/*/bin/initdb (install Debian's postgresql)");
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let dir = std::env::temp_dir().join(format!("ocs-pg-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        if is_root() {
            let ok = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&dir)
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if !ok {
                eprintln!("SKIP: cannot chown {} to postgres", dir.display());
                return None;
            }
        }
        let data = dir.join("data");
        let (d, s) = (
            data.to_string_lossy().into_owned(),
            dir.to_string_lossy().into_owned(),
        );
        let out = run_pg(
            &bin.join("initdb"),
            &[
                "-D",
                &d,
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        )
        .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let opts = format!(
            "-p {port} -k {s} -c listen_addresses='' -c fsync=off -c max_connections=60 {extra}"
        );
        let log = dir.join("log").to_string_lossy().into_owned();
        let out = run_pg(
            &bin.join("pg_ctl"),
            &["start", "-D", &d, "-o", &opts, "-l", &log, "-w"],
        )
        .expect("run pg_ctl");
        let mut cluster = PgCluster {
            dir: dir.clone(),
            url: format!("host={s} port={port} user=postgres dbname=postgres"),
            pid: None,
        };
        assert!(
            out.status.success(),
            "pg_ctl start: {} {}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        let pid = std::fs::read_to_string(data.join("postmaster.pid"))
            .ok()
            .and_then(|t| t.lines().next().and_then(|l| l.trim().parse().ok()));
        cluster.pid = pid;
        assert!(pid.is_some(), "no postmaster.pid");
        Some(cluster)
    }
}

impl PgCluster {
    /// The cluster's URL in `postgresql://` form (the socket directory percent-encoded).
    pub fn uri(&self) -> String {
        let get = |k: &str| {
            self.url
                .split_whitespace()
                .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
                .unwrap_or_default()
                .to_string()
        };
        let host = get("host").replace('/', "%2F");
        format!(
            "postgresql://{}@{host}:{}/{}",
            get("user"),
            get("port"),
            get("dbname")
        )
    }

    /// Creates a database `name` in the cluster; returns its URL.
    pub fn database(&self, name: &str) -> String {
        let mut c = postgres::Client::connect(&self.url, postgres::NoTls).expect("connect");
        c.batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .expect("create database");
        self.url
            .replace("dbname=postgres", &format!("dbname={name}"))
    }

    /// The port the cluster listens on (its socket's name, and TCP when enabled).
    pub fn port(&self) -> u16 {
        self.url
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix("port="))
            .and_then(|p| p.parse().ok())
            .expect("port in the url")
    }

    /// The postmaster's PID.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// The postmaster and its children (backends, background workers): the processes of
    /// this private cluster, all started by [`PgCluster::start`].
    pub fn processes(&self) -> Vec<u32> {
        let Some(pid) = self.pid else {
            return Vec::new();
        };
        let mut out = vec![pid];
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
            .map(|d| d.filter_map(|e| e.ok()).collect::<Vec<_>>())
            .unwrap_or_default();
        for t in tasks {
            let children = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
            out.extend(
                children
                    .split_whitespace()
                    .filter_map(|c| c.parse::<u32>().ok()),
            );
        }
        out
    }

    /// Sends `signal` (`STOP`, `CONT`) to the processes of this cluster.
    pub fn signal(&self, signal: &str, pids: &[u32]) {
        for pid in pids {
            let _ = Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(pid.to_string())
                .status();
        }
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            // SIGINT = fast shutdown; wait (bounded) for the postmaster to go away.
            let _ = Command::new("kill")
                .args(["-INT", &pid.to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline
                && Path::new(&format!("/proc/{pid}")).exists()
                && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .map(|s| s.contains(") Z "))
                    .unwrap_or(true)
            {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub mod ccr {
    //! Builders of CCRs for the tests.
    // Generated code may box large optional grouped members: values go in with `.into()`.
    #![allow(clippy::useless_conversion)]
    use diameter::dict::dcca_rfc4006::*;

    pub const GY: &str = "32251@3gpp.org";
    pub const SMS: &str = "32274@3gpp.org";

    pub const TARIFFS: &str = r#"
currency = 978
exponent = 2
[[tariff]]
name = "data"
rating_group = 100
unit = "total_octets"
block = 1000000
price = 10
default_quota = 5000000
[[tariff]]
name = "voice"
rating_group = 200
unit = "time"
block = 60
price = 5
default_quota = 300
[[tariff]]
name = "sms"
service_context_id = "32274@3gpp.org"
service_identifier = 1
unit = "service_specific"
block = 1
price = 9
default_quota = 1
"#;

    pub fn msisdn(n: &str) -> SubscriptionId {
        SubscriptionId {
            subscription_id_type: SubscriptionIdType::EndUserE164,
            subscription_id_data: n.into(),
            ..Default::default()
        }
    }

    /// A CCR of a client that handles multiple services (RFC 8506 §5.1.2): its first
    /// interrogation (CCR-I, CCR-E) carries MULTIPLE_SERVICES_SUPPORTED.
    pub fn base(session: &str, kind: CcRequestType, number: u32, ctx: &str) -> Ccr {
        let first = matches!(
            kind,
            CcRequestType::InitialRequest | CcRequestType::EventRequest
        );
        Ccr {
            multiple_services_indicator: first
                .then_some(MultipleServicesIndicator::MultipleServicesSupported),
            session_id: session.into(),
            origin_host: "pgw.example.net".into(),
            origin_realm: "example.net".into(),
            destination_realm: "example.net".into(),
            auth_application_id: 4,
            service_context_id: ctx.into(),
            cc_request_type: kind,
            cc_request_number: number,
            ..Default::default()
        }
    }

    /// An MSCC for data: rating group 100, optional request and usage in octets.
    pub fn data_mscc(
        rg: u32,
        request: Option<u64>,
        used: Option<u64>,
    ) -> MultipleServicesCreditControl {
        MultipleServicesCreditControl {
            rating_group: Some(rg),
            requested_service_unit: request.map(|r| {
                RequestedServiceUnit {
                    cc_total_octets: (r > 0).then_some(r),
                    ..Default::default()
                }
                .into()
            }),
            used_service_unit: used
                .map(|u| UsedServiceUnit {
                    cc_total_octets: Some(u),
                    ..Default::default()
                })
                .into_iter()
                .collect(),
            ..Default::default()
        }
    }

    pub fn voice_mscc(request: Option<u32>, used: Option<u32>) -> MultipleServicesCreditControl {
        MultipleServicesCreditControl {
            rating_group: Some(200),
            requested_service_unit: request.map(|r| {
                RequestedServiceUnit {
                    cc_time: Some(r),
                    ..Default::default()
                }
                .into()
            }),
            used_service_unit: used
                .map(|u| UsedServiceUnit {
                    cc_time: Some(u),
                    ..Default::default()
                })
                .into_iter()
                .collect(),
            ..Default::default()
        }
    }

    /// A Ro SMS event (Service-Identifier 1, one service-specific unit).
    pub fn sms_event(session: &str, who: &str, action: RequestedAction) -> Ccr {
        let mut c = base(session, CcRequestType::EventRequest, 0, SMS);
        c.subscription_id = vec![msisdn(who)].into();
        c.requested_action = Some(action);
        c.multiple_services_credit_control = vec![MultipleServicesCreditControl {
            service_identifier: vec![1].into(),
            requested_service_unit: Some(
                RequestedServiceUnit {
                    cc_service_specific_units: Some(1),
                    ..Default::default()
                }
                .into(),
            ),
            ..Default::default()
        }]
        .into();
        c
    }
}

pub mod tariffs {
    //! Tariff files shared by the client-against-server tests.

    /// Three tariffs whose last grant says what the client does (`[tariff.final_unit]`):
    /// RG 100 redirects to the top-up page, RG 200 restricts access, RG 300 terminates.
    pub const FINAL_TARIFFS: &str = r#"
[[tariff]]
name = "redirect"
rating_group = 100
unit = "total_octets"
block = 1000000
price = 10
default_quota = 5000000
[tariff.final_unit]
action = "redirect"
redirect_address = "https://topup.example.net/"
filter_id = ["zero-rated"]
[[tariff]]
name = "restrict"
rating_group = 200
unit = "total_octets"
block = 1000000
price = 10
default_quota = 5000000
[tariff.final_unit]
action = "restrict_access"
filter_id = ["walled-garden"]
restriction_filter_rule = ["permit out ip from any to 192.0.2.10"]
[[tariff]]
name = "terminate"
rating_group = 300
unit = "total_octets"
block = 1000000
price = 10
default_quota = 5000000
[tariff.final_unit]
action = "terminate"
"#;
}

pub mod raw {
    //! A raw-TCP Diameter peer for tests that drive `diameter serve ocs` as a process.
    use bytes::Bytes;
    use diameter_core::peer::capabilities::{cer as cer_message, Capabilities};
    use diameter_core::RawMessage;
    use std::io::Read;
    use std::net::TcpStream;

    #[allow(unused_imports)] // not every test that includes these helpers needs it
    pub use super::free_port::free_port;

    /// The encoded CER of a credit-control client `host` in realm example.net.
    pub fn cer(host: &str, product: &str) -> Bytes {
        let caps = Capabilities {
            origin_host: host.into(),
            origin_realm: "example.net".into(),
            host_ip_addresses: vec![[127, 0, 0, 1].into()],
            product_name: product.into(),
            auth_applications: vec![4],
            ..Default::default()
        };
        cer_message(&caps, 1, 1).to_bytes()
    }

    /// Reads one framed message, or `None` on close, error or time-out.
    pub fn read_message(s: &mut TcpStream) -> Option<RawMessage> {
        let mut head = [0u8; 20];
        s.read_exact(&mut head).ok()?;
        let len = u32::from_be_bytes([0, head[1], head[2], head[3]]) as usize;
        if len < 20 {
            return None;
        }
        let mut body = vec![0u8; len];
        body[..20].copy_from_slice(&head);
        s.read_exact(&mut body[20..]).ok()?;
        RawMessage::decode(Bytes::from(body), &Default::default()).ok()
    }
}
