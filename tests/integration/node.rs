//! The real `idp` binary as a child process: a command run over a configuration of the tests
//! ([`Setup`]), and `idp serve` as an operator runs it, its address read from its JSON log,
//! killed when the test ends however it ends.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::helpers::{Backend, TestDb, write_config};

/// `idp` with no inherited `IDP__…` variables.
pub fn idp() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_idp"));
    for (key, _) in std::env::vars() {
        if key.starts_with("IDP__") || key == "IDP_CONFIG" {
            command.env_remove(key);
        }
    }
    command.env("NO_COLOR", "1");
    command
}

/// Runs `command` with `stdin` written to it; its output.
pub fn run(command: &mut Command, stdin: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A configuration (`helpers::write_config`, public URL `http://localhost:8080`) in a temporary
/// directory over a fresh database.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub db: TestDb,
    /// `idp.toml`.
    pub config: PathBuf,
}

/// Asserts that `out` is a success (its stderr shown when not); its stdout.
#[track_caller]
pub fn succeeded(out: &Output) -> String {
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

/// Asserts that `out` exited with `code` and wrote exactly `stderr`.
#[track_caller]
pub fn failed_with(out: &Output, code: i32, stderr: &str) {
    assert_eq!(out.status.code(), Some(code), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), stderr);
}

/// A [`Setup`] on `backend`.
pub fn setup(backend: Backend) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(backend, dir.path());
    let config = write_config(dir.path(), "http://localhost:8080", &db.url);
    Setup { dir, db, config }
}

impl Setup {
    /// `idp --config … <args>`, to be run.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = idp();
        command.arg("--config").arg(&self.config).args(args);
        command
    }

    /// Runs `idp --config … <args>` with `stdin` written to it.
    pub fn run(&self, args: &[&str], stdin: &str) -> Output {
        run(&mut self.command(args), stdin)
    }

    /// Runs `idp --config … <args>` without input.
    pub fn idp(&self, args: &[&str]) -> Output {
        self.command(args).stdin(Stdio::null()).output().unwrap()
    }

    /// A file of the configuration's directory (`tenants/kouvola.toml`…).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A running `idp serve`, its address read from its JSON log.
pub struct Served {
    pub child: Child,
    pub address: SocketAddr,
    /// The log lines not read yet.
    pub log: mpsc::Receiver<String>,
}

impl Drop for Served {
    /// A failed test must not leave a server behind.
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Starts `idp serve` with `command` and waits until it listens.
pub fn serve(command: &mut Command) -> Served {
    let mut served = start(command);
    served.wait_listening();
    served
}

/// Starts `idp serve` with `command` (JSON log); [`Served::wait_listening`] waits for it.
pub fn start(command: &mut Command) -> Served {
    let mut child = command
        .env("IDP__LOG__FORMAT", "json")
        .arg("serve")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Owned from here on, so that a panic in the caller still stops the child.
    Served {
        child,
        address: SocketAddr::from(([0, 0, 0, 0], 0)),
        log: rx,
    }
}

impl Served {
    /// Reads the log until the node reports its address (within 30 s), and sets `address`.
    pub fn wait_listening(&mut self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let timeout = deadline.saturating_duration_since(std::time::Instant::now());
            let line = self
                .log
                .recv_timeout(timeout)
                .unwrap_or_else(|_| panic!("idp serve did not report listening"));
            let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
                panic!("a log line that is not JSON: {line}");
            };
            if event["message"] == "listening" {
                self.address = event["address"].as_str().unwrap().parse().unwrap();
                return;
            }
        }
    }
}
