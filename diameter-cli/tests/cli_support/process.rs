//! `diameter serve ...` processes started by tests. Each listens on port 0 and the test
//! reads the bound address from the first line the server prints ("`... listening on
//! ADDR`"), so no port is picked beforehand that another test could take in between. Its
//! standard error can go to a file, shown when the test fails ([`ServerProcess::report`]).
//! Included with `#[path]` by the tests that start servers of their own.

#![allow(dead_code)]

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A server process; killed (SIGKILL to its own pid) and reaped when dropped.
pub struct ServerProcess {
    child: Child,
    addr: Option<SocketAddr>,
    stderr: Option<PathBuf>,
}

impl ServerProcess {
    /// Starts `diameter ARGS` (arguments that make it listen on a port-0 address) with
    /// `RUST_LOG` set to `log`, its standard error written to `stderr` (or dropped), and
    /// waits at most 30 s for the address it announces.
    pub fn start(args: &[&str], log: Option<&str>, stderr: Option<&Path>) -> ServerProcess {
        let (mut server, lines) = ServerProcess::spawn(args, log, stderr, 1);
        let line = lines.into_iter().next().unwrap_or_default();
        let addr = line
            .trim()
            .split_once(" listening on ")
            .and_then(|(_, a)| a.split(',').next()?.trim().parse().ok());
        if addr.is_none() {
            panic!(
                "the server announced no address (first line {line:?}); {}",
                server.report()
            );
        }
        server.addr = addr;
        server
    }

    /// Starts `diameter ARGS` and returns it with its first `n` lines of output (at most
    /// 30 s for each), such as the addresses of its Diameter and admin endpoints.
    pub fn start_lines(args: &[&str], n: usize) -> (ServerProcess, Vec<String>) {
        let (mut server, lines) = ServerProcess::spawn(args, None, None, n);
        if lines.len() < n {
            panic!(
                "the server printed {lines:?}, not {n} lines; {}",
                server.report()
            );
        }
        (server, lines)
    }

    /// Starts it and reads up to `n` lines (fewer if it stops printing for 30 s or ends);
    /// the rest of its output is drained.
    fn spawn(
        args: &[&str],
        log: Option<&str>,
        stderr: Option<&Path>,
        n: usize,
    ) -> (ServerProcess, Vec<String>) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_diameter"));
        cmd.args(args).env("NO_COLOR", "1").env_remove("RUST_LOG");
        if let Some(log) = log {
            cmd.env("RUST_LOG", log);
        }
        let err = match stderr {
            Some(path) => Stdio::from(std::fs::File::create(path).expect("server stderr file")),
            None => Stdio::null(),
        };
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .expect("start diameter");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut r = std::io::BufReader::new(stdout);
            for _ in 0..n {
                let mut line = String::new();
                if !r.read_line(&mut line).is_ok_and(|read| read > 0) || tx.send(line).is_err() {
                    return;
                }
            }
            // Keep the pipe drained, so that later output never blocks the server.
            let _ = std::io::copy(&mut r, &mut std::io::sink());
        });
        let mut server = ServerProcess {
            child,
            addr: None,
            stderr: stderr.map(Path::to_path_buf),
        };
        let mut lines = Vec::new();
        while lines.len() < n {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => lines.push(line),
                Err(_) => {
                    server.wait_a_moment();
                    break;
                }
            }
        }
        (server, lines)
    }

    /// Gives a process whose output ended a moment to end too, so that
    /// [`ServerProcess::report`] can tell how.
    fn wait_a_moment(&mut self) {
        for _ in 0..50 {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The address it listens on ([`ServerProcess::start`]).
    pub fn addr(&self) -> SocketAddr {
        self.addr.expect("started with ServerProcess::start")
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL (kill(2) on its pid: no shutdown, no flush) and reap it.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL the server");
        let _ = self.child.wait();
    }

    /// Whether it is still running or how it ended, and the end of its standard error: for
    /// the message of a failed test.
    pub fn report(&mut self) -> String {
        let state = match self.child.try_wait() {
            Ok(None) => "the server is running".to_owned(),
            Ok(Some(status)) => format!("the server ended: {status}"),
            Err(e) => format!("the server's state is unknown: {e}"),
        };
        let Some(path) = &self.stderr else {
            return state;
        };
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = &lines[lines.len().saturating_sub(40)..];
        format!("{state}; its standard error ends:\n{}", tail.join("\n"))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
