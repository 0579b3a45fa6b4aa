//! Faults lose nothing: the real `idp serve`, killed with SIGKILL in the middle of logins, code
//! exchanges and mail, started again on the same database; and PostgreSQL stopped under load and
//! started again under a running node.
//!
//! What a killed node answered stays true after the restart (a code answered with tokens is used,
//! the tokens work, a mail that was queued leaves), and the database holds nothing half-written
//! (a grant without its code, a session without its audit event, a reset link without its mail).
//! The import killed mid-run is `legacy_import::a_killed_import_leaves_whole_batches_and_a_rerun_completes_it`.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use diesel::sql_types::BigInt;
use diesel::{QueryableByName, RunQueryDsl};
use idp::clock::Clock;
use idp::store::{Store, StoreError};
use serde_json::Value;

use crate::both_stores;
use crate::helpers::{Backend, TestDb, add_user, read_mails, write_test_config};
use crate::node::{self, Served};
use crate::rp::{self, Rp};
use crate::scale_out::SilentRelay;

const PASSWORD: &str = "oikea hevonen";
const REDIRECT: &str = "http://127.0.0.1:9/callback";

/// A free port on 127.0.0.1 (a restarted node listens where the killed one did).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One `idp serve` at a fixed address over a database, which can be killed and started again.
struct Node {
    config: PathBuf,
    address: SocketAddr,
    served: Option<Served>,
}

impl Node {
    fn new(dir: &Path, database_url: &str) -> Node {
        let address = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let public = format!("http://{address}");
        let config = write_test_config(dir, &public, database_url, "", None);
        Node {
            config,
            address,
            served: None,
        }
    }

    fn issuer(&self) -> String {
        format!("http://{}/seinajoki", self.address)
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Starts `idp serve` (a short queue lease: a mail a killed node held is retried soon).
    fn start(&mut self) {
        self.start_with(&[]);
    }

    /// [`Node::start`] with more environment (settings' overrides).
    fn start_with(&mut self, env: &[(&str, &str)]) {
        let mut command = node::idp();
        command.envs(env.iter().copied());
        command
            .arg("--config")
            .arg(&self.config)
            .env("IDP__SERVER__BIND", self.address.to_string())
            .env("IDP__QUEUES__LEASE_SECONDS", "3");
        let mut served = node::start(&mut command);
        served.wait_listening();
        assert_eq!(served.address, self.address);
        self.served = Some(served);
    }

    /// SIGKILL: no shutdown, no flush, requests in flight cut off.
    fn kill(&mut self) {
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
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// The `Location` of a 303, or why there is none.
fn see_other(response: &reqwest::Response) -> Result<url::Url, String> {
    if response.status() != 303 {
        return Err(format!("HTTP {}", response.status()));
    }
    let location = response.headers()["location"].to_str().unwrap();
    url::Url::parse(location).map_err(|e| e.to_string())
}

/// What a load task saw: every answer, with what it means.
#[derive(Default, Debug)]
struct Seen {
    /// Codes the login answered with, and their PKCE verifiers.
    codes: Vec<(String, String)>,
    /// Codes whose exchange was answered 200, with the access and refresh tokens.
    exchanged: Vec<(String, String, String)>,
    /// Reset links asked, with the status of the answer.
    asked: Vec<(String, u16)>,
    /// New passwords set through a reset link and answered as set.
    reset: Vec<(String, String)>,
    /// Registrations answered as done, with their passwords.
    registered: Vec<(String, String)>,
    /// Any 5xx (or other unexpected answer) before the kill.
    wrong: Vec<String>,
}

/// A login answered 429: refused before its password was checked, so it has no effect to find.
const THROTTLED: &str = "throttled";

/// Marks `wrong` unless the node was killed (then a cut-off request is expected).
fn unexpected(seen: &mut Seen, killed: &AtomicBool, what: String) {
    if !killed.load(Ordering::SeqCst) {
        seen.wrong.push(what);
    }
}

/// One login of `email` through `client` and the code's exchange; records what was answered.
/// Returns `false` when the node stopped answering.
async fn one_login(
    http: &reqwest::Client,
    client: &Rp,
    node: &str,
    email: &str,
    password: &str,
    seen: &mut Seen,
    killed: &AtomicBool,
) -> bool {
    let started = rp::start(client, &[], &[]);
    let flow = async {
        let login = see_other(
            &http
                .get(started.url.clone())
                .send()
                .await
                .map_err(|e| e.to_string())?,
        )?;
        let page = http
            .get(login.clone())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if page.status() != 200 {
            return Err(format!("login page: HTTP {}", page.status()));
        }
        let token = rp::csrf(&page.text().await.map_err(|e| e.to_string())?);
        let request = rp::param(&login, "request").unwrap();
        let identifier = http
            .post(format!("{node}/seinajoki/login/identifier"))
            .form(&[
                ("csrf", token.as_str()),
                ("request", &request),
                ("identifier", email),
            ])
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if identifier.status() != 200 {
            return Err(format!("identifier: HTTP {}", identifier.status()));
        }
        let token = rp::csrf(&identifier.text().await.map_err(|e| e.to_string())?);
        let answer = http
            .post(format!("{node}/seinajoki/login/password"))
            .form(&[
                ("csrf", token.as_str()),
                ("request", &request),
                ("identifier", email),
                ("password", password),
            ])
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if answer.status() == 429 {
            // One client address holds at most its share of the hashing pool: a refusal with
            // no effect, which the resident would retry.
            return Err(THROTTLED.to_string());
        }
        let back = see_other(&answer)?;
        rp::param(&back, "code").ok_or_else(|| format!("no code: {back}"))
    };
    let code = match flow.await {
        Ok(code) => code,
        Err(error) if error == THROTTLED => {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            return true;
        }
        Err(error) => {
            let gone = error.contains("error sending request") || error.contains("connect");
            unexpected(seen, killed, format!("login: {error}"));
            return !gone && !killed.load(Ordering::SeqCst);
        }
    };
    let verifier = started.verifier.secret().clone();
    seen.codes.push((code.clone(), verifier.clone()));
    let answer = http
        .post(format!("{node}/seinajoki/token"))
        .basic_auth("rp-basic", Some("rp-basic-secret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ])
        .send()
        .await;
    match answer {
        Ok(r) if r.status() == 200 => match r.json::<Value>().await {
            Ok(body) => {
                seen.exchanged.push((
                    code,
                    body["access_token"].as_str().unwrap().to_string(),
                    body["refresh_token"].as_str().unwrap().to_string(),
                ));
                true
            }
            // The body was cut off: not answered.
            Err(_) => false,
        },
        Ok(r) => {
            unexpected(seen, killed, format!("token: HTTP {}", r.status()));
            true
        }
        Err(_) => false,
    }
}

/// Asks a reset link for `email`; records the answer's status (200: sent, 503: queued, could not
/// be sent yet). Returns `false` when the node stopped answering.
async fn ask_reset(http: &reqwest::Client, node: &str, email: &str, seen: &mut Seen) -> bool {
    let Ok(page) = http.get(format!("{node}/seinajoki/forgot")).send().await else {
        return false;
    };
    let Ok(page) = page.text().await else {
        return false;
    };
    let form = [
        ("csrf", rp::csrf(&page)),
        ("request", String::new()),
        ("email", email.to_string()),
    ];
    match http
        .post(format!("{node}/seinajoki/forgot"))
        .form(&form)
        .send()
        .await
    {
        Ok(r) => {
            let status = r.status().as_u16();
            // A page cut off mid-body was not answered.
            if r.text().await.is_ok() {
                seen.asked.push((email.to_string(), status));
            }
            true
        }
        Err(_) => false,
    }
}

/// Follows the reset link mailed to `email` (read from the file transport's `mail_dir`) and sets
/// `password`; records it when answered as set. Returns `false` when the node stopped answering.
async fn use_reset_link(
    http: &reqwest::Client,
    node: &str,
    mail_dir: &Path,
    email: &str,
    password: &str,
    seen: &mut Seen,
) -> bool {
    let prefix = format!("{node}/seinajoki/reset?token=");
    let Some(link) = mailed_link(mail_dir, email, &prefix).await else {
        return true;
    };
    let Ok(page) = http.get(&link).send().await else {
        return false;
    };
    let Ok(page) = page.text().await else {
        return false;
    };
    let token = rp::param(&url::Url::parse(&link).unwrap(), "token").unwrap();
    let form = [
        ("csrf", rp::csrf(&page)),
        ("token", token),
        ("password", password.to_string()),
        ("password2", password.to_string()),
    ];
    match http
        .post(format!("{node}/seinajoki/reset"))
        .form(&form)
        .send()
        .await
    {
        Ok(r) => {
            let status = r.status().as_u16();
            if r.text().await.is_ok() {
                if status == 200 || status == 303 {
                    seen.reset.push((email.to_string(), password.to_string()));
                } else {
                    seen.wrong.push(format!("reset: HTTP {status}"));
                }
            }
            true
        }
        Err(_) => false,
    }
}

/// The link mailed to `email` that starts with `prefix`, waiting at most 5 s for the mail.
async fn mailed_link(mail_dir: &Path, email: &str, prefix: &str) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let link = read_mails(mail_dir)
            .iter()
            .filter(|m| m.contains(&format!("To: {email}")))
            .flat_map(|m| m.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .find(|w| w.starts_with(prefix));
        if link.is_some() || Instant::now() > deadline {
            return link;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Registers `email` with `password`: the address, the mailed link, the account's form; records
/// it when answered as done. Returns `false` when the node stopped answering.
async fn register(
    http: &reqwest::Client,
    node: &str,
    mail_dir: &Path,
    email: &str,
    password: &str,
    seen: &mut Seen,
) -> bool {
    let Ok(page) = http.get(format!("{node}/seinajoki/register")).send().await else {
        return false;
    };
    let Ok(page) = page.text().await else {
        return false;
    };
    let form = [
        ("csrf", rp::csrf(&page)),
        ("request", String::new()),
        ("email", email.to_string()),
    ];
    let Ok(asked) = http
        .post(format!("{node}/seinajoki/register"))
        .form(&form)
        .send()
        .await
    else {
        return false;
    };
    if asked.text().await.is_err() {
        return false;
    }
    let prefix = format!("{node}/seinajoki/register/complete?token=");
    let Some(link) = mailed_link(mail_dir, email, &prefix).await else {
        return true;
    };
    let Ok(page) = http.get(&link).send().await else {
        return false;
    };
    let Ok(page) = page.text().await else {
        return false;
    };
    let token = rp::param(&url::Url::parse(&link).unwrap(), "token").unwrap();
    let form = [
        ("csrf", rp::csrf(&page)),
        ("token", token),
        ("username", email.to_string()),
        ("name", "Uusi Asukas".to_string()),
        ("password", password.to_string()),
        ("password2", password.to_string()),
    ];
    match http
        .post(format!("{node}/seinajoki/register/complete"))
        .form(&form)
        .send()
        .await
    {
        Ok(r) => {
            let status = r.status().as_u16();
            if r.text().await.is_ok() {
                if status == 200 || status == 303 {
                    seen.registered
                        .push((email.to_string(), password.to_string()));
                } else {
                    seen.wrong.push(format!("register: HTTP {status}"));
                }
            }
            true
        }
        Err(_) => false,
    }
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
    let client = rp::client_at(
        &node.issuer(),
        &rp::http(),
        "rp-basic",
        Some("rp-basic-secret"),
        REDIRECT,
    )
    .await;
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
        let again = token(vec![
            ("grant_type", "authorization_code".into()),
            ("code", code.clone()),
            ("redirect_uri", REDIRECT.into()),
        ])
        .await
        .unwrap();
        assert_eq!(again.status(), 400);
        let body: Value = again.json().await.unwrap();
        assert_eq!(body["error"], "invalid_grant", "an exchanged code is used");
    }
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
    let relay = SilentRelay::start();
    let port = relay.port.to_string();
    node.start_with(&[
        ("IDP__MAIL__TRANSPORT", "smtp"),
        ("IDP__MAIL__HOST", "127.0.0.1"),
        ("IDP__MAIL__PORT", &port),
        ("IDP__MAIL__TLS", "none"),
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

    // Started again with the file transport: each mail leaves once, after the lease (3 s).
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

/// PostgreSQL stopped under load: the token endpoint, userinfo and the login page answer 503
/// with `Retry-After` while it is down (never 500), and the node serves again once it is back,
/// without a restart.
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
    let client = rp::client_at(
        &node.issuer(),
        &rp::http(),
        "rp-basic",
        Some("rp-basic-secret"),
        REDIRECT,
    )
    .await;
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
    let tasks = vec![
        tokio::spawn({
            let (http, stop, url) = (http.clone(), stop.clone(), token_url.clone());
            async move {
                keep_asking("token", stop, || {
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
            .basic_auth("service", Some("service-secret"))
            .form(&[("grant_type", "client_credentials")])
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
        if (token, info, login) == (200, 200, 303) {
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
    node.kill();
}
