//! The load of the fault tests (`faults.rs`): residents logging in, asking reset links, setting
//! passwords and registering against a node that may be killed at any moment. Each journey
//! records what the node answered, and stops when it no longer answers.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::faults::{REDIRECT, see_other};
use crate::helpers::{find_link, read_mails};
use crate::rp::{self, Rp};

/// What a load task saw: every answer, with what it means.
#[derive(Default, Debug)]
pub(crate) struct Seen {
    /// Codes the login answered with, and their PKCE verifiers.
    pub(crate) codes: Vec<(String, String)>,
    /// Codes whose exchange was answered 200, with the access and refresh tokens.
    pub(crate) exchanged: Vec<(String, String, String)>,
    /// Reset links asked, with the status of the answer.
    pub(crate) asked: Vec<(String, u16)>,
    /// New passwords set through a reset link and answered as set.
    pub(crate) reset: Vec<(String, String)>,
    /// Registrations answered as done, with their passwords.
    pub(crate) registered: Vec<(String, String)>,
    /// Any 5xx (or other unexpected answer) before the kill.
    pub(crate) wrong: Vec<String>,
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
pub(crate) async fn one_login(
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
        let request = rp::param(&login, "request").unwrap();
        let post = async |path: &str, page: reqwest::Response, fields: &[(&str, &str)]| {
            let token = rp::csrf(&page.text().await.map_err(|e| e.to_string())?);
            let mut form = vec![("csrf", token.as_str()), ("request", &request)];
            form.extend_from_slice(fields);
            let url = format!("{node}/seinajoki/login/{path}");
            let sent = http.post(url).form(&form).send().await;
            sent.map_err(|e| e.to_string())
        };
        let identifier = post("identifier", page, &[("identifier", email)]).await?;
        if identifier.status() != 200 {
            return Err(format!("identifier: HTTP {}", identifier.status()));
        }
        let fields = [("identifier", email), ("password", password)];
        let answer = post("password", identifier, &fields).await?;
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

/// What posting a form got from a node that may be killed.
enum Posted {
    /// The node did not answer: its page, or the post, was cut off.
    Gone,
    /// The post was answered, but its page was cut off mid-body.
    CutOff,
    /// The post was answered with this status, its page whole.
    Answered(u16),
}

/// Gets `page` (for its CSRF token) and posts `fields` to `action`, through `http`.
async fn post_page(
    http: &reqwest::Client,
    page: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> Posted {
    let Ok(opened) = http.get(page).send().await else {
        return Posted::Gone;
    };
    let Ok(html) = opened.text().await else {
        return Posted::Gone;
    };
    let token = rp::csrf(&html);
    let mut form = vec![("csrf", token.as_str())];
    form.extend_from_slice(fields);
    match http.post(action).form(&form).send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            match r.text().await {
                Ok(_) => Posted::Answered(status),
                Err(_) => Posted::CutOff,
            }
        }
        Err(_) => Posted::Gone,
    }
}

/// Where a journey's success is recorded in [`Seen`].
type Record = fn(&mut Seen) -> &mut Vec<(String, String)>;

/// Follows the link starting with `prefix` mailed to `email` (read from the file transport's
/// `mail_dir`), posts its form with the link's token and `fields`, and records (`email`,
/// `password`) where `record` says when answered as done (else a wrong answer, named `what`).
/// Returns `false` when the node stopped answering.
async fn follow_mailed_link(
    http: &reqwest::Client,
    (mail_dir, email, prefix): (&Path, &str, &str),
    fields: &[(&str, &str)],
    (what, record, password): (&str, Record, &str),
    seen: &mut Seen,
) -> bool {
    let Some(link) = mailed_link(mail_dir, email, prefix).await else {
        return true;
    };
    let token = rp::param(&url::Url::parse(&link).unwrap(), "token").unwrap();
    let mut form = vec![("token", token.as_str())];
    form.extend_from_slice(fields);
    let action = link.split('?').next().unwrap();
    // A 429 is the client address's share of the hashing pool, held by the logins of the other
    // tasks (all at 127.0.0.1): refused before the link was tried, with no effect; a resident
    // tries again.
    for _ in 0..50 {
        match post_page(http, &link, action, &form).await {
            Posted::Gone => return false,
            Posted::CutOff => return true,
            Posted::Answered(429) => tokio::time::sleep(Duration::from_millis(20)).await,
            Posted::Answered(status) => {
                if status == 200 || status == 303 {
                    record(seen).push((email.to_string(), password.to_string()));
                } else {
                    seen.wrong.push(format!("{what}: HTTP {status}"));
                }
                return true;
            }
        }
    }
    seen.wrong.push(format!("{what}: HTTP 429 fifty times"));
    true
}

/// Asks a reset link for `email`; records the answer's status (200: sent, 503: queued, could not
/// be sent yet). Returns `false` when the node stopped answering.
pub(crate) async fn ask_reset(
    http: &reqwest::Client,
    node: &str,
    email: &str,
    seen: &mut Seen,
) -> bool {
    let forgot = format!("{node}/seinajoki/forgot");
    match post_page(http, &forgot, &forgot, &[("request", ""), ("email", email)]).await {
        Posted::Gone => false,
        // A page cut off mid-body was not answered.
        Posted::CutOff => true,
        Posted::Answered(status) => {
            seen.asked.push((email.to_string(), status));
            true
        }
    }
}

/// Follows the reset link mailed to `email` (read from the file transport's `mail_dir`) and sets
/// `password`; records it when answered as set. Returns `false` when the node stopped answering.
pub(crate) async fn use_reset_link(
    http: &reqwest::Client,
    node: &str,
    mail_dir: &Path,
    email: &str,
    password: &str,
    seen: &mut Seen,
) -> bool {
    let prefix = format!("{node}/seinajoki/reset?token=");
    let fields = [("password", password), ("password2", password)];
    let mail = (mail_dir, email, prefix.as_str());
    let record: Record = |seen| &mut seen.reset;
    follow_mailed_link(http, mail, &fields, ("reset", record, password), seen).await
}

/// The link mailed to `email` that starts with `prefix`, waiting at most 5 s for the mail.
async fn mailed_link(mail_dir: &Path, email: &str, prefix: &str) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let link = read_mails(mail_dir)
            .iter()
            .filter(|m| m.contains(&format!("To: {email}")))
            .find_map(|m| find_link(m, prefix));
        if link.is_some() || Instant::now() > deadline {
            return link;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Registers `email` with `password`: the address, the mailed link, the account's form; records
/// it when answered as done. Returns `false` when the node stopped answering.
pub(crate) async fn register(
    http: &reqwest::Client,
    node: &str,
    mail_dir: &Path,
    email: &str,
    password: &str,
    seen: &mut Seen,
) -> bool {
    let page = format!("{node}/seinajoki/register");
    let fields = [("request", ""), ("email", email)];
    if !matches!(
        post_page(http, &page, &page, &fields).await,
        Posted::Answered(_)
    ) {
        return false;
    }
    let prefix = format!("{node}/seinajoki/register/complete?token=");
    let fields = [
        ("username", email),
        ("name", "Uusi Asukas"),
        ("password", password),
        ("password2", password),
    ];
    let mail = (mail_dir, email, prefix.as_str());
    let record: Record = |seen| &mut seen.registered;
    follow_mailed_link(http, mail, &fields, ("register", record, password), seen).await
}
