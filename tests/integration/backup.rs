//! Backups taken under load and restored: `idp backup` of a running SQLite node, and the
//! PostgreSQL procedure of docs/operations.md (`pg_dump -Fc`, `pg_restore` into an empty
//! database). The restored node serves what the backup held — residents log in, sessions and
//! tokens from before it work — and refuses cleanly what came after it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::account_sessions::support::{
    PASSWORD, app_client, app_tokens, app_with_receiver, refresh,
};
use crate::both_stores;
use crate::helpers::{Backend, TestApp, TestDb};
use crate::node::{failed_with, succeeded, text};
use crate::rp::{self, param, prompt_none};

/// The PostgreSQL client programs (`pg_dump`, `pg_restore`) next to the server's.
fn pg_bin() -> PathBuf {
    std::env::var_os("PG_BIN")
        .map(PathBuf::from)
        .into_iter()
        .chain(std::iter::once(PathBuf::from("/usr/lib/postgresql/15/bin")))
        .find(|bin| bin.join("pg_dump").is_file())
        .expect("pg_dump of PostgreSQL 15")
}

/// `idp --config <the app's> <args>`, run to its end.
async fn cli(app: &TestApp, args: &[&str]) -> std::process::Output {
    app.cli(args).await
}

/// Takes the backup of `app`'s database into `dir`, as the operator would: `idp backup` for
/// SQLite, `pg_dump -Fc` for PostgreSQL. Returns the file.
async fn back_up(app: &TestApp, dir: &Path) -> PathBuf {
    let file = dir.join("idp-backup");
    match app.db.backend {
        idp::config::DatabaseBackend::Sqlite(_) => {
            let out = cli(app, &["backup", "--to", &file.display().to_string()]).await;
            let said = succeeded(&out);
            assert!(said.starts_with("backed up "), "{said}");
            assert!(said.contains(" integrity ok)"), "{said}");
        }
        idp::config::DatabaseBackend::Postgres(_) => {
            let mut dump = std::process::Command::new(pg_bin().join("pg_dump"));
            dump.args(["--format=custom", "--no-owner", "--file"])
                .arg(&file)
                .arg(&app.db.url);
            let out = tokio::task::spawn_blocking(move || dump.output().unwrap())
                .await
                .unwrap();
            assert!(out.status.success(), "{}", text(&out.stderr));
        }
    }
    file
}

/// Fills the fresh database `db` from the backup `file`.
fn restore(file: &Path, db: &TestDb) {
    match &db.backend {
        idp::config::DatabaseBackend::Sqlite(path) => {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::copy(file, path).unwrap();
        }
        idp::config::DatabaseBackend::Postgres(url) => {
            let out = std::process::Command::new(pg_bin().join("pg_restore"))
                .args(["--no-owner", "--exit-on-error", "--dbname", url])
                .arg(file)
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", text(&out.stderr));
        }
    }
}

/// Load while the backup runs: Maija's offline token refreshed over and over (each refresh
/// writes: the old token used, a new one stored), counted in `done`, until `stop`, 500
/// refreshes or 30 s.
async fn load(
    app: &TestApp,
    first: String,
    stop: Arc<AtomicBool>,
    done: Arc<AtomicUsize>,
) -> tokio::task::JoinHandle<()> {
    let client = app_client(app).await;
    tokio::spawn(async move {
        let started = Instant::now();
        let mut token = first;
        while !stop.load(Ordering::Relaxed)
            && done.load(Ordering::Relaxed) < 500
            && started.elapsed() < Duration::from_secs(30)
        {
            token = refresh(&client, &token)
                .await
                .expect("a refresh under load");
            done.fetch_add(1, Ordering::Relaxed);
        }
    })
}

/// Waits (at most 10 s) until `done` has reached `count`.
async fn at_least(done: &AtomicUsize, count: usize) {
    let started = Instant::now();
    while done.load(Ordering::Relaxed) < count {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the load stalled"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Erkki, who consented to `rp-app` before, logs in to it in `browser`: its tokens.
async fn consented_before(client: &rp::Rp, browser: &reqwest::Client) -> rp::Redeemed {
    let started = rp::start(client, &["email", "offline_access"], &[]);
    rp::log_in_and_redeem(browser, client, started, "erkki@testi.fi", PASSWORD).await
}

both_stores!(a_backup_taken_under_load_restores_and_refuses_what_came_after);
async fn a_backup_taken_under_load_restores_and_refuses_what_came_after(backend: Backend) {
    let (app, _receiver, _handle) = app_with_receiver(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let client = app_client(&app).await;
    // Before the backup: Erkki's browser and offline token.
    let before = app.browser();
    let erkki_before = app_tokens(&app, &before, "erkki@testi.fi").await;
    // Maija's token drives the load.
    let maija = app_tokens(&app, &app.browser(), "maija@testi.fi").await;
    let (stop, done) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );
    let loaded = load(&app, maija.refresh_token(), stop.clone(), done.clone()).await;

    // The backup starts while refreshes are being written, and they go on during it.
    at_least(&done, 5).await;
    let backup = back_up(&app, dir.path()).await;
    let when_backed_up = done.load(Ordering::Relaxed);
    at_least(&done, when_backed_up + 5).await;

    // After the backup, while the load goes on: a new login in another browser, and Erkki's old
    // refresh token rotated.
    let after = app.browser();
    let erkki_after = consented_before(&client, &after).await;
    let rotated = refresh(&client, &erkki_before.refresh_token())
        .await
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    loaded.await.unwrap();

    let app = app.restart_on(move |db| restore(&backup, db)).await;
    let (status, body) = {
        let response = app.get("/readyz").await;
        (response.status().as_u16(), response.text().await.unwrap())
    };
    assert_eq!(status, 200, "{body}");
    let client = app_client(&app).await;

    // What came after the backup is unknown, and refused as any unknown token or session is.
    assert_eq!(
        refresh(&client, &erkki_after.refresh_token()).await,
        Err("invalid_grant: the refresh token is invalid, expired or revoked".to_string())
    );
    assert_eq!(
        refresh(&client, &rotated).await,
        Err("invalid_grant: the refresh token is invalid, expired or revoked".to_string())
    );
    let response = app
        .http
        .get(app.url("/seinajoki/userinfo"))
        .bearer_auth(erkki_after.access_token())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    let basic = rp::basic(&app).await;
    let back = prompt_none(&after, &basic).await;
    assert_eq!(param(&back, "error").as_deref(), Some("login_required"));

    // What the backup held serves: the session of before, and Erkki's password.
    let back = prompt_none(&before, &basic).await;
    assert!(param(&back, "code").is_some(), "{back}");
    let fresh = app.browser();
    let again = consented_before(&client, &fresh).await;
    assert_eq!(again.payload()["sub"], erkki_before.payload()["sub"]);
    // The restore rolls refresh-token rotation back to the backup, but the token issued after it
    // names the family the backup holds: presented, it revoked that family, and the token of
    // before (the family's current one in the backup) works no more (docs/operations.md says so).
    assert_eq!(
        refresh(&client, &erkki_before.refresh_token()).await,
        Err("invalid_grant: the refresh token is invalid, expired or revoked".to_string())
    );
    let reused = app.audited("seinajoki", "refresh_token.reused").await;
    assert_eq!(reused.len(), 1, "{reused:?}");
    app.stop().await;
}

both_stores!(idp_backup_refuses_an_existing_file_and_postgres);
async fn idp_backup_refuses_an_existing_file_and_postgres(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let taken = dir.path().join("taken");
    std::fs::write(&taken, "something").unwrap();
    let out = cli(&app, &["backup", "--to", &taken.display().to_string()]).await;
    let exists = format!(
        "error: backup: {} exists already: name a new file\n",
        taken.display()
    );
    refused(backend, &out, &exists);
    assert_eq!(std::fs::read_to_string(&taken).unwrap(), "something");
    // Nothing left behind: no partial copy beside the target.
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1);
    app.stop().await;
}

both_stores!(idp_backup_refuses_a_file_name_not_in_utf8);
async fn idp_backup_refuses_a_file_name_not_in_utf8(backend: Backend) {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    let app = TestApp::spawn(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join(OsStr::from_bytes(b"idp-backup-\xff"));
    let args = [OsStr::new("backup"), OsStr::new("--to"), to.as_os_str()];
    let out = app.cli_os(&args).await;
    let not_utf8 = format!(
        "error: backup: {} is not a UTF-8 file name, and SQLite names files in UTF-8\n",
        to.display()
    );
    refused(backend, &out, &not_utf8);
    // No file at all: SQLite wrote its copy to a name with U+FFFD in it, and the empty private
    // file became the target.
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    app.stop().await;
}

/// `idp backup` refused on `backend`: on SQLite with the one line `sqlite`, on PostgreSQL with
/// the pointer to its own tools.
#[track_caller]
fn refused(backend: Backend, out: &std::process::Output, sqlite: &str) {
    match backend {
        Backend::Sqlite => failed_with(out, 1, sqlite),
        Backend::Postgres => failed_with(
            out,
            1,
            "error: the database is PostgreSQL: back it up with pg_dump or base backups and WAL \
             archiving (docs/operations.md#backups)\n",
        ),
    }
}

both_stores!(support_ends_again_what_a_restore_brought_back);
/// A restore brings back what residents ended after the backup: Erkki's session and offline token
/// (ended after it, as a password reset or "sign out everywhere" ends them) work again, with the
/// password a reset would have replaced, and Maija's deletion, undone after it, is pending again
/// — at its `erase_at` the clean-up would erase the account she kept. Support ends Erkki's again
/// with his password (`idp users end-sessions --forget-password`) and cancels Maija's deletion
/// (`idp users cancel-deletion`), as docs/operations.md's "After a restore" says; both audited.
async fn support_ends_again_what_a_restore_brought_back(backend: Backend) {
    let (app, _receiver, _handle) = app_with_receiver(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let before = app.browser();
    let erkki = app_tokens(&app, &before, "erkki@testi.fi").await;
    let maija = app_tokens(&app, &app.browser(), "maija@testi.fi").await;
    let users = |args: &[&str]| {
        let mut all = vec!["users"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--tenant", "seinajoki"]);
        all.into_iter().map(str::to_string).collect::<Vec<_>>()
    };
    let run = async |args: &[&str]| {
        let args = users(args);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cli(&app, &args).await
    };
    succeeded(&run(&["delete", "--email", "maija@testi.fi"]).await);
    let backup = back_up(&app, dir.path()).await;
    // After the backup: Maija keeps her account, Erkki's sessions and password are ended.
    succeeded(&run(&["cancel-deletion", "--email", "maija@testi.fi"]).await);
    let ended = [
        "end-sessions",
        "--email",
        "erkki@testi.fi",
        "--forget-password",
    ];
    succeeded(&run(&ended).await);

    let app = app.restart_on(move |db| restore(&backup, db)).await;
    let run = async |args: &[&str]| {
        let args = users(args);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cli(&app, &args).await
    };
    let client = app_client(&app).await;
    let basic = rp::basic(&app).await;
    // Back with the restore: Erkki's session, token and password, Maija's pending deletion.
    let back = prompt_none(&before, &basic).await;
    assert!(param(&back, "code").is_some(), "{back}");
    let offline = erkki.refresh_token();
    let offline = refresh(&client, &offline).await.unwrap();
    let erkki_row = |conn: &mut idp::store::DbConnection| {
        crate::helpers::find_user(conn, "seinajoki", "erkki@testi.fi")
    };
    assert!(
        app.db_run(move |c| erkki_row(c))
            .await
            .password_hash
            .is_some()
    );

    let out = run(&ended).await;
    let subject = erkki.payload()["sub"].as_str().unwrap().to_string();
    assert_eq!(
        text(&out.stdout),
        format!(
            "ended everything of the account {subject} in seinajoki: 1 session(s), its grants, \
             consents and pending links; its password is forgotten (its owner sets a new one \
             through \"forgot password\")\n"
        )
    );
    let back = prompt_none(&before, &basic).await;
    assert_eq!(param(&back, "error").as_deref(), Some("login_required"));
    assert_eq!(
        refresh(&client, &offline).await,
        Err("invalid_grant: the refresh token is invalid, expired or revoked".to_string())
    );
    assert!(
        app.db_run(move |c| erkki_row(c))
            .await
            .password_hash
            .is_none()
    );
    let audited = app.audited("seinajoki", "sessions.ended_everywhere").await;
    let detail = audited
        .last()
        .and_then(|event| event.detail.as_deref())
        .unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(detail).unwrap(),
        serde_json::json!({ "by": "cli", "password_forgotten": true, "sessions": 1 })
    );

    // Maija's deletion cancelled again: she logs in, and a second cancel finds nothing.
    let out = run(&["cancel-deletion", "--email", "maija@testi.fi"]).await;
    let subject = maija.payload()["sub"].as_str().unwrap().to_string();
    assert_eq!(
        text(&out.stdout),
        format!(
            "cancelled the deletion of the account {subject} in seinajoki: it is enabled again \
             (unless it was disabled before the deletion was asked for)\n"
        )
    );
    let again = app_tokens(&app, &app.browser(), "maija@testi.fi").await;
    assert_eq!(again.payload()["sub"], maija.payload()["sub"]);
    failed_with(
        &run(&["cancel-deletion", "--email", "maija@testi.fi"]).await,
        1,
        &format!("error: the account {subject} in seinajoki has no pending deletion\n"),
    );
    let undone = app.audited("seinajoki", "account.deletion_undone").await;
    assert_eq!(
        undone.last().and_then(|event| event.detail.as_deref()),
        Some(r#"{"by":"cli"}"#)
    );
    app.stop().await;
}
