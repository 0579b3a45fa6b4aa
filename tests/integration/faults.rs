//! Faults lose nothing: the real `idp serve`, killed with SIGKILL in the middle of logins, code
//! exchanges and mail, started again on the same database; and PostgreSQL stopped under load and
//! started again under a running node.
//!
//! What a killed node answered stays true after the restart (a code answered with tokens is used,
//! the tokens work, a mail that was queued leaves), and the database holds nothing half-written
//! (a grant without its code, a session without its audit event, a reset link without its mail).
//! The import killed mid-run is `legacy_import::a_killed_import_leaves_whole_batches_and_a_rerun_completes_it`.
//!
//! This file holds the node that is killed ([`Node`]) and the tests that kill it; the load they
//! run is `faults_load.rs`, PostgreSQL stopped under a node is `faults_postgres.rs`.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use diesel::sql_types::BigInt;
use diesel::{QueryableByName, RunQueryDsl};
use idp::clock::Clock;
use idp::store::{Store, StoreError};
use serde_json::Value;

use crate::both_stores;
use crate::faults_load::{Seen, ask_reset, one_login, register, use_reset_link};
use crate::helpers::{Backend, Relay, TestDb, add_user, read_mails, write_test_config};
use crate::node::{self, Served};
use crate::rp;

pub(crate) const PASSWORD: &str = "oikea hevonen";
pub(crate) const REDIRECT: &str = "http://127.0.0.1:9/callback";

/// A free port on 127.0.0.1 (a restarted node listens where the killed one did).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One `idp serve` at a fixed address over a database, which can be killed and started again.
pub(crate) struct Node {
    pub(crate) config: PathBuf,
    address: SocketAddr,
    pub(crate) served: Option<Served>,
}

impl Node {
    pub(crate) fn new(dir: &Path, database_url: &str) -> Node {
        let address = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let public = format!("http://{address}");
        let config = write_test_config(dir, &public, database_url, "", None);
        Node {
            config,
            address,
            served: None,
        }
    }

    pub(crate) fn issuer(&self) -> String {
        format!("http://{}/seinajoki", self.address)
    }

    /// `rp-basic` of seinajoki at this node.
    pub(crate) async fn rp_basic(&self) -> rp::Rp {
        let (id, secret) = ("rp-basic", Some("rp-basic-secret"));
        rp::client_at(&self.issuer(), &rp::http(), id, secret, REDIRECT).await
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Starts `idp serve` (a short queue lease: a mail a killed node held is retried soon).
    pub(crate) fn start(&mut self) {
        self.start_with(&[]);
    }

    /// [`Node::start`] with more environment (settings' overrides, the lease's too).
    pub(crate) fn start_with(&mut self, env: &[(&str, &str)]) {
        let mut command = node::idp();
        command
            .arg("--config")
            .arg(&self.config)
            .env("IDP__SERVER__BIND", self.address.to_string())
            .env("IDP__QUEUES__LEASE_SECONDS", "3");
        command.envs(env.iter().copied());
        let mut served = node::start(&mut command);
        served.wait_listening();
        assert_eq!(served.address, self.address);
        self.served = Some(served);
    }

    /// SIGKILL: no shutdown, no flush, requests in flight cut off.
    pub(crate) fn kill(&mut self) {
        let mut served = self.served.take().unwrap();
        let pid = i32::try_from(served.child.id()).unwrap();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        let status = served.child.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9)
        );
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// A count by SQL (`… AS n`) through `store`.
async fn count(store: &Store, sql: impl Into<String>) -> i64 {
    let sql = sql.into();
    store
        .run(move |conn| Ok::<_, StoreError>(diesel::sql_query(sql).get_result::<Count>(conn)?.n))
        .await
        .unwrap()
}

/// An HTTP client that fails fast when the node is gone; its own cookies.
pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// The `Location` of a 303, or why there is none.
pub(crate) fn see_other(response: &reqwest::Response) -> Result<url::Url, String> {
    if response.status() != 303 {
        return Err(format!("HTTP {}", response.status()));
    }
    let location = response.headers()["location"].to_str().unwrap();
    url::Url::parse(location).map_err(|e| e.to_string())
}

both_stores!(a_killed_server_loses_no_answered_request);
async fn a_killed_server_loses_no_answered_request(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(backend, dir.path());
    let mut node = Node::new(dir.path(), &db.url);
    node.start();
    let settings = idp::config::load(&node.config).unwrap().settings.database;
    let store = Store::open(&settings).unwrap();
    let now = idp::clock::SystemClock.now();
    // Four residents log in over and over; each reset link goes to a resident of its own (the
    // mail limits count per address).
    let logins: Vec<String> = (0..4).map(|i| format!("asukas{i}@testi.fi")).collect();
    let resets: Vec<String> = (0..10).map(|i| format!("unohtaja{i}@testi.fi")).collect();
    for email in logins.iter().chain(&resets) {
        add_user(&store, now, "seinajoki", email, PASSWORD, "Asukas").await;
    }
    let client = node.rp_basic().await;
    let base = node.url("");

    // The load: a task per resident logging in and exchanging codes, and one asking reset links,
    // each bounded in count; the node is killed while they run.
    let killed = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for email in logins.clone() {
        let (client, base, killed) = (client.clone(), base.clone(), killed.clone());
        tasks.push(tokio::spawn(async move {
            let mut seen = Seen::default();
            for _ in 0..200 {
                if !one_login(
                    &browser(),
                    &client,
                    &base,
                    &email,
                    PASSWORD,
                    &mut seen,
                    &killed,
                )
                .await
                {
                    break;
                }
            }
            seen
        }));
    }
    {
        let (base, resets, mail_dir) = (base.clone(), resets.clone(), dir.path().join("mail"));
        tasks.push(tokio::spawn(async move {
            let mut seen = Seen::default();
            for (i, email) in resets.iter().enumerate() {
                let http = browser();
                if !ask_reset(&http, &base, email, &mut seen).await {
                    break;
                }
                let password = format!("uusi kaunis hevonen {i}");
                if !use_reset_link(&http, &base, &mail_dir, email, &password, &mut seen).await {
                    break;
                }
                let newcomer = format!("tulokas{i}@testi.fi");
                if i < 4
                    && !register(
                        &browser(),
                        &base,
                        &mail_dir,
                        &newcomer,
                        &password,
                        &mut seen,
                    )
                    .await
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            seen
        }));
    }

    // Killed once there is something to lose: codes exchanged and links asked.
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let used = count(
            &store,
            "SELECT count(*) AS n FROM auth_codes WHERE used_at IS NOT NULL",
        )
        .await;
        let mails = count(&store, "SELECT count(*) AS n FROM mail_outbox").await;
        let reset = count(
            &store,
            "SELECT count(*) AS n FROM one_time_links \
             WHERE purpose = 'reset_password' AND used_at IS NOT NULL",
        )
        .await;
        let registered = count(
            &store,
            "SELECT count(*) AS n FROM users WHERE email LIKE 'tulokas%'",
        )
        .await;
        if used >= 8 && mails >= 3 && reset >= 2 && registered >= 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no load after 40 s: {used} codes, {mails} mails"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    killed.store(true, Ordering::SeqCst);
    node.kill();
    let mut seen = Seen::default();
    for task in tasks {
        let part = task.await.unwrap();
        seen.codes.extend(part.codes);
        seen.exchanged.extend(part.exchanged);
        seen.asked.extend(part.asked);
        seen.reset.extend(part.reset);
        seen.registered.extend(part.registered);
        seen.wrong.extend(part.wrong);
    }
    assert!(seen.wrong.is_empty(), "before the kill: {:?}", seen.wrong);
    eprintln!(
        "{backend:?}: killed after {} codes, {} exchanges, {} reset links asked, {} used, {} registrations",
        seen.codes.len(),
        seen.exchanged.len(),
        seen.asked.len(),
        seen.reset.len(),
        seen.registered.len()
    );
    assert!(seen.exchanged.len() >= 4 && !seen.asked.is_empty() && !seen.reset.is_empty());
    assert!(!seen.registered.is_empty());

    // Nothing half-written, as the crash left the database.
    let half_written: [(&str, &str); 9] = [
        (
            "a registered user without its audit event",
            "SELECT count(*) AS n FROM users u WHERE u.email LIKE 'tulokas%' \
             AND NOT EXISTS (SELECT 1 FROM audit_events a \
             WHERE a.kind = 'user.registered' AND a.user_id = u.id)",
        ),
        (
            "a used reset link without its password change",
            "SELECT count(*) AS n FROM one_time_links l JOIN users u ON u.id = l.user_id \
             WHERE l.purpose = 'reset_password' AND l.used_at IS NOT NULL \
             AND (u.password_changed_at IS NULL OR u.password_changed_at < l.used_at)",
        ),
        (
            "a code without its grant",
            "SELECT count(*) AS n FROM auth_codes c \
             WHERE NOT EXISTS (SELECT 1 FROM grants g WHERE g.id = c.grant_id)",
        ),
        (
            "a user's grant without its code",
            "SELECT count(*) AS n FROM grants g WHERE g.user_id IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM auth_codes c WHERE c.grant_id = g.id)",
        ),
        (
            "a used code without its refresh token",
            "SELECT count(*) AS n FROM auth_codes c WHERE c.used_at IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.grant_id = c.grant_id)",
        ),
        (
            "a refresh token without its grant",
            "SELECT count(*) AS n FROM refresh_tokens r \
             WHERE NOT EXISTS (SELECT 1 FROM grants g WHERE g.id = r.grant_id)",
        ),
        (
            "a grant without its session",
            "SELECT count(*) AS n FROM grants g WHERE g.session_id IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM sso_sessions s WHERE s.id = g.session_id)",
        ),
        (
            "a session without its grant (the login's code)",
            "SELECT count(*) AS n FROM sso_sessions s \
             WHERE NOT EXISTS (SELECT 1 FROM grants g WHERE g.session_id = s.id)",
        ),
        (
            "a mail marked sent without its time",
            "SELECT count(*) AS n FROM mail_outbox \
             WHERE (status = 'sent') <> (sent_at IS NOT NULL) \
             OR status NOT IN ('pending', 'sent', 'failed')",
        ),
    ];
    for (what, sql) in half_written {
        assert_eq!(count(&store, sql).await, 0, "{what}");
    }
    // Every session has its login's audit event, every reset link its mail.
    assert_eq!(
        count(&store, "SELECT count(*) AS n FROM sso_sessions").await,
        count(
            &store,
            "SELECT count(*) AS n FROM audit_events WHERE kind = 'login.succeeded'"
        )
        .await,
        "a session without its audit event"
    );
    assert_eq!(
        count(
            &store,
            "SELECT count(*) AS n FROM one_time_links WHERE purpose = 'reset_password'"
        )
        .await,
        count(
            &store,
            "SELECT count(*) AS n FROM mail_outbox WHERE kind = 'reset_password'"
        )
        .await,
        "a reset link without its mail"
    );

    // Started again on the same database.
    node.start();
    let rp_http = browser();
    let token = |form: Vec<(&'static str, String)>| {
        rp_http
            .post(node.url("/seinajoki/token"))
            .basic_auth("rp-basic", Some("rp-basic-secret"))
            .form(&form)
            .send()
    };
    // Every exchange answered with tokens: the tokens work, the code is used.
    for (code, access, refresh) in &seen.exchanged {
        let info = rp_http
            .get(node.url("/seinajoki/userinfo"))
            .bearer_auth(access)
            .send()
            .await
            .unwrap();
        assert_eq!(info.status(), 200, "an issued access token");
        let refreshed = token(vec![
            ("grant_type", "refresh_token".into()),
            ("refresh_token", refresh.clone()),
        ])
        .await
        .unwrap();
        assert_eq!(refreshed.status(), 200, "an issued refresh token");
        // With its verifier: only its use refuses it (not PKCE).
        let verifier = seen
            .codes
            .iter()
            .find(|(c, _)| c == code)
            .unwrap()
            .1
            .clone();
        let again = token(vec![
            ("grant_type", "authorization_code".into()),
            ("code", code.clone()),
            ("redirect_uri", REDIRECT.into()),
            ("code_verifier", verifier),
        ])
        .await
        .unwrap();
        assert_eq!(again.status(), 400);
        let body: Value = again.json().await.unwrap();
        assert_eq!(body["error"], "invalid_grant", "an exchanged code is used");
        assert_eq!(
            body["error_description"], "the code is invalid, expired or used",
            "an exchanged code is used"
        );
    }
    // Each replay is in the trail.
    assert_eq!(
        count(
            &store,
            "SELECT count(*) AS n FROM audit_events WHERE kind = 'code.replayed'"
        )
        .await,
        seen.exchanged.len() as i64,
        "a replayed code's event"
    );
    // A code whose exchange was cut off is either still good or used, never half of it.
    let exchanged: Vec<&String> = seen.exchanged.iter().map(|(c, _, _)| c).collect();
    for (code, verifier) in seen.codes.iter().filter(|(c, _)| !exchanged.contains(&c)) {
        let answer = token(vec![
            ("grant_type", "authorization_code".into()),
            ("code", code.clone()),
            ("redirect_uri", REDIRECT.into()),
            ("code_verifier", verifier.clone()),
        ])
        .await
        .unwrap();
        let status = answer.status().as_u16();
        let body: Value = answer.json().await.unwrap();
        assert!(
            status == 200 || (status == 400 && body["error"] == "invalid_grant"),
            "{status} {body}"
        );
    }

    // Every password set through a link, or at registration, answered as set is the password.
    for (email, password) in seen.reset.iter().chain(&seen.registered) {
        let mut after = Seen::default();
        let never = AtomicBool::new(false);
        one_login(
            &browser(),
            &client,
            &base,
            email,
            password,
            &mut after,
            &never,
        )
        .await;
        assert!(after.wrong.is_empty(), "{email}: {:?}", after.wrong);
        assert_eq!(
            after.exchanged.len(),
            1,
            "{email} logs in with the new password"
        );
    }

    // Every reset link answered (sent, or queued to retry) is in the outbox and leaves: a mail
    // the killed node held goes after its lease (3 s here), at least once.
    for (email, status) in &seen.asked {
        assert!(*status == 200 || *status == 503, "{email}: {status}");
    }
    let mail_dir = dir.path().join("mail");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let pending = count(
            &store,
            "SELECT count(*) AS n FROM mail_outbox WHERE status <> 'sent'",
        )
        .await;
        let mails = read_mails(&mail_dir);
        let missing: Vec<&String> = seen
            .asked
            .iter()
            .map(|(e, _)| e)
            .filter(|e| !mails.iter().any(|m| m.contains(e.as_str())))
            .collect();
        if pending == 0 && missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{pending} mails not sent; no mail to {missing:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // And every mail queued went out, whether or not its page was answered.
    let mails = read_mails(&mail_dir);
    for email in &resets {
        let queued = mails.iter().filter(|m| m.contains(email.as_str())).count();
        let rows = count(
            &store,
            format!("SELECT count(*) AS n FROM mail_outbox WHERE to_address = '{email}'"),
        )
        .await;
        assert!(
            queued >= usize::try_from(rows).unwrap(),
            "{email}: {rows} queued, {queued} sent"
        );
    }
    node.kill();
}

both_stores!(mail_a_killed_node_was_sending_leaves_after_the_restart);
/// Mail in the outbox, the node killed while it sends (its SMTP relay never answers): after the
/// restart every queued mail leaves once, after the killed node's lease.
async fn mail_a_killed_node_was_sending_leaves_after_the_restart(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(backend, dir.path());
    let mut node = Node::new(dir.path(), &db.url);
    let relay = Relay::silent();
    let port = relay.port.to_string();
    // With SMTP the lease must outlast a round of four attempts (check-config): 3 s attempts,
    // a 13 s lease.
    node.start_with(&[
        ("IDP__MAIL__TRANSPORT", "smtp"),
        ("IDP__MAIL__HOST", "127.0.0.1"),
        ("IDP__MAIL__PORT", &port),
        ("IDP__MAIL__TLS", "none"),
        ("IDP__MAIL__TIMEOUT_SECONDS", "3"),
        ("IDP__QUEUES__LEASE_SECONDS", "13"),
    ]);
    let settings = idp::config::load(&node.config).unwrap().settings.database;
    let store = Store::open(&settings).unwrap();
    let residents: Vec<String> = (0..3).map(|i| format!("unohtaja{i}@testi.fi")).collect();
    for email in &residents {
        let now = idp::clock::SystemClock.now();
        add_user(&store, now, "seinajoki", email, PASSWORD, "Asukas").await;
    }
    // The reset links are asked; their pages wait on the relay, never answered.
    let base = node.url("");
    let asked: Vec<_> = residents
        .iter()
        .map(|email| {
            let (base, email) = (base.clone(), email.clone());
            tokio::spawn(async move {
                let mut seen = Seen::default();
                ask_reset(&browser(), &base, &email, &mut seen).await;
                seen
            })
        })
        .collect();
    // Killed once every mail is queued and taken by a sender.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let queued = count(&store, "SELECT count(*) AS n FROM mail_outbox").await;
        let taken = count(
            &store,
            "SELECT count(*) AS n FROM mail_outbox \
             WHERE status = 'pending' AND locked_until IS NOT NULL",
        )
        .await;
        if queued == 3 && taken == 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{queued} mails queued, {taken} being sent"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    node.kill();
    for task in asked {
        assert!(task.await.unwrap().asked.is_empty(), "no page was answered");
    }
    assert!(read_mails(&dir.path().join("mail")).is_empty());

    // Started again with the file transport: each mail leaves once, after the lease (13 s).
    node.start();
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(
        &store,
        "SELECT count(*) AS n FROM mail_outbox WHERE status = 'sent'",
    )
    .await
        < 3
    {
        assert!(Instant::now() < deadline, "the queued mail did not leave");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mails = read_mails(&dir.path().join("mail"));
    for email in &residents {
        let sent = mails.iter().filter(|m| m.contains(email.as_str())).count();
        assert_eq!(sent, 1, "{email}");
    }
    assert_eq!(mails.len(), 3);
    assert_eq!(
        count(
            &store,
            "SELECT count(*) AS n FROM mail_outbox WHERE status = 'sent' AND attempts = 1"
        )
        .await,
        3
    );
    node.kill();
    drop(relay);
}
