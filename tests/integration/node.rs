//! The real `idp` binary as a child process: `idp serve` as an operator runs it, its address read
//! from its JSON log, killed when the test ends however it ends.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

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
