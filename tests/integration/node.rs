//! The real `idp` binary as a child process: a command run over a configuration of the tests
//! ([`Setup`]), and `idp serve` as an operator runs it, its address read from its JSON log,
//! killed when the test ends however it ends.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
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

    /// Rewrites the file `name` of the configuration's directory by `edit`: its path and its
    /// text before.
    pub fn edit(&self, name: &str, edit: impl FnOnce(&str) -> String) -> (PathBuf, String) {
        let path = self.path(name);
        let original = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, edit(&original)).unwrap();
        (path, original)
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
        self.events_until_listening();
    }

    /// [`Served::wait_listening`]; the log's events up to `listening`, that one included.
    pub fn events_until_listening(&mut self) -> Vec<serde_json::Value> {
        let mut events = Vec::new();
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
                events.push(event);
                return events;
            }
            events.push(event);
        }
    }
}

/// A GET over a plain socket; returns the status and the body.
pub fn get(address: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    read_response(stream)
}

/// Reads an HTTP response from `stream` (within 20 s): the status and the body.
pub fn read_response(mut stream: TcpStream) -> (u16, String) {
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP response: {response:?}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Sends SIGTERM to `child`.
pub fn sigterm(child: &Child) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
}

/// Waits (at most `within`) for `child` to exit; kills it and panics when it does not.
pub fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("idp serve did not exit within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
