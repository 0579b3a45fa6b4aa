//! PostgreSQL stopped under load and started again under a running node (`faults.rs` says what
//! the fault tests prove): the server of the test's own ([`OwnPostgres`]), and the load that asks
//! while it is down.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use idp::clock::Clock;
use idp::store::Store;

use crate::faults::{Node, PASSWORD, REDIRECT, browser, free_port};
use crate::helpers::add_user;
use crate::rp;

/// A PostgreSQL server of the test's own that it can stop and start: initdb into a temporary
/// directory, on a free loopback port (as `scripts/with-postgres` runs one). Stopped and removed
/// when dropped.
struct OwnPostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    /// Run as the `postgres` user (PostgreSQL refuses to run as root).
    as_postgres: bool,
}

impl OwnPostgres {
    /// A new server, started; `None` (printed) when there are no PostgreSQL binaries, which is a
    /// failure under `CI=true`.
    fn start_new() -> Option<OwnPostgres> {
        let bin = std::env::var_os("PG_BIN")
            .map(PathBuf::from)
            .into_iter()
            .chain(std::iter::once(PathBuf::from("/usr/lib/postgresql/15/bin")))
            .chain(
                std::fs::read_dir("/usr/lib/postgresql")
                    .into_iter()
                    .flatten()
                    .filter_map(Result::ok)
                    .map(|e| e.path().join("bin")),
            )
            .find(|bin| bin.join("initdb").is_file() && bin.join("pg_ctl").is_file());
        let Some(bin) = bin else {
            assert!(
                !std::env::var("CI").is_ok_and(|v| v == "true"),
                "CI=true but no PostgreSQL server binaries (initdb, pg_ctl) were found"
            );
            eprintln!("skipping: no PostgreSQL server binaries (initdb, pg_ctl) found");
            return None;
        };
        let id = Command::new("id").arg("-u").output().unwrap();
        let as_postgres = String::from_utf8_lossy(&id.stdout).trim() == "0";
        let dir = tempfile::tempdir().unwrap();
        if as_postgres {
            let chown = Command::new("chown")
                .arg("postgres:")
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(chown.success());
        }
        let pg = OwnPostgres {
            bin,
            dir,
            port: free_port(),
            as_postgres,
        };
        let data = pg.dir.path().join("data");
        pg.run(
            "initdb",
            &[
                "-D",
                &data.display().to_string(),
                "-U",
                "idp",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ],
        );
        pg.start();
        Some(pg)
    }

    fn run(&self, program: &str, args: &[&str]) {
        let program = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        let out = command.args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{} {args:?}: {}{}",
            program.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn url(&self) -> String {
        format!("postgres://idp@127.0.0.1:{}/postgres", self.port)
    }

    fn start(&self) {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c max_connections=50",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-l",
                &log,
                "-w",
                "-t",
                "60",
                "-o",
                &options,
                "start",
            ],
        );
    }

    /// `pg_ctl stop -m fast`: every connection ended, the server down until [`OwnPostgres::start`].
    fn stop(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let program = self.bin.join("pg_ctl");
        let data = self.data();
        let args = ["-D", data.as_str(), "-m", "immediate", "stop"];
        let _ = if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&program)
                .args(args)
                .output()
        } else {
            Command::new(&program).args(args).output()
        };
    }
}

/// One answer of the load: which request, when, its status and `Retry-After`.
#[derive(Debug, Clone)]
struct Answer {
    what: &'static str,
    at: Instant,
    took: Duration,
    status: u16,
    retry_after: Option<String>,
}

/// Sends `request` again and again (at most 2,000 times, 50 ms apart) until `stop`.
async fn keep_asking<F, Fut>(what: &'static str, stop: Arc<AtomicBool>, request: F) -> Vec<Answer>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = reqwest::Result<reqwest::Response>>,
{
    let mut answers = Vec::new();
    for _ in 0..2000 {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let sent = Instant::now();
        let response = request()
            .await
            .unwrap_or_else(|e| panic!("{what}: no answer: {e}"));
        answers.push(Answer {
            what,
            at: Instant::now(),
            took: sent.elapsed(),
            status: response.status().as_u16(),
            retry_after: response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string()),
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    answers
}

/// PostgreSQL stopped under load: a code exchange, userinfo and the login page answer 503 with
/// `Retry-After` while it is down (never 500), and the node serves again once it is back,
/// without a restart. A machine token (`client_credentials`), which needs no database, is
/// issued all along.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_under_load_is_503_and_the_node_recovers() {
    let Some(pg) = OwnPostgres::start_new() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::new(dir.path(), &pg.url());
    node.start();
    let settings = idp::config::load(&node.config).unwrap().settings.database;
    let store = Store::open(&settings).unwrap();
    add_user(
        &store,
        idp::clock::SystemClock.now(),
        "seinajoki",
        "asukas@testi.fi",
        PASSWORD,
        "Asukas",
    )
    .await;
    drop(store);
    let client = node.rp_basic().await;
    let started = rp::start(&client, &[], &[]);
    let back = rp::log_in(&browser(), &started.url, "asukas@testi.fi", PASSWORD).await;
    let tokens = rp::exchange(
        &client,
        &rp::param(&back, "code").unwrap(),
        started.verifier,
    )
    .await
    .unwrap();
    let access = openidconnect::OAuth2TokenResponse::access_token(&tokens)
        .secret()
        .clone();

    let stop = Arc::new(AtomicBool::new(false));
    let http = browser();
    let token_url = node.url("/seinajoki/token");
    let userinfo_url = node.url("/seinajoki/userinfo");
    let authorize = rp::start(&client, &[], &[]).url;
    // A code that was never issued: its exchange asks the database, and is refused once it can.
    let no_code = [
        ("grant_type", "authorization_code"),
        ("code", "never-issued"),
        ("redirect_uri", REDIRECT),
        (
            "code_verifier",
            "never-issued-never-issued-never-issued-never",
        ),
    ];
    let (rp_id, rp_secret) = ("rp-basic", "rp-basic-secret");
    let tasks = vec![
        tokio::spawn({
            let (http, stop, url) = (http.clone(), stop.clone(), token_url.clone());
            async move {
                keep_asking("token", stop, || {
                    http.post(&url)
                        .basic_auth(rp_id, Some(rp_secret))
                        .form(&no_code)
                        .send()
                })
                .await
            }
        }),
        tokio::spawn({
            let (http, stop, url) = (http.clone(), stop.clone(), token_url.clone());
            async move {
                keep_asking("machine token", stop, || {
                    http.post(&url)
                        .basic_auth("service", Some("service-secret"))
                        .form(&[("grant_type", "client_credentials")])
                        .send()
                })
                .await
            }
        }),
        tokio::spawn({
            let (http, stop, url) = (http.clone(), stop.clone(), userinfo_url.clone());
            let access = access.clone();
            async move {
                keep_asking("userinfo", stop, || {
                    http.get(&url).bearer_auth(&access).send()
                })
                .await
            }
        }),
        tokio::spawn({
            let (http, stop, authorize) = (http.clone(), stop.clone(), authorize.clone());
            async move { keep_asking("login page", stop, || http.get(authorize.clone()).send()).await }
        }),
    ];

    tokio::time::sleep(Duration::from_secs(1)).await;
    let stopping = Instant::now();
    tokio::task::block_in_place(|| pg.stop());
    let down = Instant::now();
    // Down long enough for every request to be answered while it is.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let starting = Instant::now();
    tokio::task::block_in_place(|| pg.start());
    let up = Instant::now();
    // Back: the node serves again, without a restart, within 20 s.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let token = http
            .post(&token_url)
            .basic_auth(rp_id, Some(rp_secret))
            .form(&no_code)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        let info = http
            .get(&userinfo_url)
            .bearer_auth(&access)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        let login = http
            .get(authorize.clone())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        if (token, info, login) == (400, 200, 303) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not served 20 s after PostgreSQL came back: {token} {info} {login}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("served again {:?} after PostgreSQL came back", up.elapsed());
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    let mut answers = Vec::new();
    for task in tasks {
        answers.extend(task.await.unwrap());
    }
    assert!(
        node.served
            .as_mut()
            .unwrap()
            .child
            .try_wait()
            .unwrap()
            .is_none(),
        "the node kept running"
    );

    let good = |a: &Answer| match a.what {
        "login page" => a.status == 303,
        "token" => a.status == 400,
        _ => a.status == 200,
    };
    let wrong: Vec<String> = answers
        .iter()
        .filter(|a| !(good(a) || (a.status == 503 && a.retry_after.as_deref() == Some("5"))))
        .map(|a| {
            format!(
                "{} {} {:?} at {:?} after the stop began",
                a.what,
                a.status,
                a.retry_after,
                a.at.saturating_duration_since(stopping)
            )
        })
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
    eprintln!(
        "{} answers, {} of them 503",
        answers.len(),
        answers.iter().filter(|a| a.status == 503).count()
    );
    for what in ["token", "userinfo", "login page"] {
        let during: Vec<&Answer> = answers
            .iter()
            .filter(|a| a.what == what && a.at > down && a.at < starting)
            .collect();
        assert!(!during.is_empty(), "{what}: no answer while down");
        // Answered at once, not after the pool's 10 s wait for a connection.
        assert!(
            during
                .iter()
                .all(|a| a.status == 503 && a.took < Duration::from_secs(3)),
            "{what} while down: {during:?}"
        );
    }
    let machine: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.what == "machine token")
        .collect();
    assert!(
        machine.iter().any(|a| a.at > down && a.at < starting),
        "machine token: no answer while down"
    );
    assert!(
        machine.iter().all(|a| a.status == 200),
        "machine tokens need no database: {machine:?}"
    );
    node.kill();
}
