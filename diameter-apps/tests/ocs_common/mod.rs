//! Helpers shared by the OCS integration tests.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

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

fn is_root() -> bool {
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
        let Some(bin) = pg_bin() else {
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
        let (d, s) = (data.to_string_lossy().into_owned(), dir.to_string_lossy().into_owned());
        let out = run_pg(
            &bin.join("initdb"),
            &["-D", &d, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"],
        )
        .expect("run initdb");
        assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        let opts = format!(
            "-p {port} -k {s} -c listen_addresses='' -c fsync=off -c max_connections=60"
        );
        let log = dir.join("log").to_string_lossy().into_owned();
        let out = run_pg(&bin.join("pg_ctl"), &["start", "-D", &d, "-o", &opts, "-l", &log, "-w"])
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

impl Drop for PgCluster {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            // SIGINT = fast shutdown; wait (bounded) for the postmaster to go away.
            let _ = Command::new("kill").args(["-INT", &pid.to_string()]).status();
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
