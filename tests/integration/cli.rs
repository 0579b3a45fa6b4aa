//! The `idp` binary: its commands, exit statuses and messages, and `serve` as an operator runs it.

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use diesel::RunQueryDsl;
use diesel::r2d2::ManageConnection;
use idp::store::{self, Manager};
use secrecy::SecretString;

use crate::both_stores;
use crate::helpers::{
    Backend, TestDb, assert_has, for_a_public_server, project_root, write_config,
};
use crate::node::{
    failed_with, get, idp, read_response, run, serve, setup, sigterm, start, succeeded, text,
    wait_exit,
};

both_stores!(users_add_then_list);
async fn users_add_then_list(backend: Backend) {
    let s = setup(backend);
    let add = |tenant: &str, email: &str, stdin: &str| {
        let args = ["users", "add", "--tenant", tenant, "--email", email];
        let more = ["--name", "Erkki Esimerkki", "--password-stdin"];
        s.run(&[&args[..], &more].concat(), stdin)
    };
    let out = add(
        "seinajoki",
        " Erkki.Esimerkki@Example.com",
        "oikea hevonen\n",
    );
    let stdout = succeeded(&out);
    assert!(
        stdout.starts_with("added Erkki.Esimerkki@Example.com to seinajoki (subject "),
        "{stdout}"
    );

    // The same address, differently written, is the same user.
    let again = add(
        "seinajoki",
        "erkki.esimerkki@example.COM",
        "toinen salasana\n",
    );
    failed_with(
        &again,
        1,
        "error: a user with the address erkki.esimerkki@example.COM already exists in tenant seinajoki\n",
    );
    // Another tenant is another namespace.
    let kouvola = add(
        "kouvola",
        "erkki.esimerkki@example.com",
        "kolmas salasana\n",
    );
    succeeded(&kouvola);

    let list = s.run(&["users", "list", "--tenant", "seinajoki"], "");
    let stdout = succeeded(&list);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].starts_with("SUBJECT"), "{stdout}");
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        row[1..4],
        ["Erkki.Esimerkki@Example.com", "yes", "argon2id"]
    );
    assert!(lines[1].ends_with("Erkki Esimerkki"), "{stdout}");
    assert_eq!(lines[2], "1 user");
    // Every resident's address left the database: the trail says so, and so does its export.
    let trail = |s: &crate::node::Setup| -> Vec<serde_json::Value> {
        let out = succeeded(&s.idp(&["audit", "export", "--tenant", "seinajoki"]));
        out.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let details = |events: &[serde_json::Value], kind: &str| -> Vec<serde_json::Value> {
        let of_kind = events.iter().filter(|e| e["kind"] == kind);
        of_kind.map(|e| e["detail"].clone()).collect()
    };
    let first = trail(&s);
    let listed = serde_json::json!({ "by": "cli", "count": 1 });
    assert_eq!(details(&first, "users.listed"), [listed]);
    assert_eq!(
        details(&first, "audit.exported"),
        [] as [serde_json::Value; 0]
    );
    let exported =
        serde_json::json!({ "by": "cli", "count": first.len(), "since": null, "until": null });
    assert_eq!(details(&trail(&s), "audit.exported"), [exported]);

    // Stored as an argon2id PHC string at OWASP's parameters, verifying the password given.
    let mut conn = Manager::new(s.db.backend.clone()).connect().unwrap();
    let user = crate::helpers::find_user(&mut conn, "seinajoki", "erkki.esimerkki@example.com");
    let phc = user.password_hash.unwrap();
    assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
    assert!(idp::crypto::password::verify(
        &SecretString::from("oikea hevonen"),
        &phc
    ));
    assert_eq!(user.name.as_deref(), Some("Erkki Esimerkki"));
    assert!(user.email_verified);
    assert_eq!(
        store::audit::kinds(&mut conn, crate::helpers::tenant("seinajoki")).unwrap(),
        [
            "user.created",
            "users.listed",
            "audit.exported",
            "audit.exported"
        ]
    );
    drop(s.dir);
}

both_stores!(a_listing_whose_reader_stops_at_once_is_audited_all_the_same);
/// `idp users list | head -0`, `idp audit export | head -0`: residents' data was read out of the
/// database, and the trail says so, though the output's reader went before the first line (it
/// panicked on the closed pipe, or returned, before writing its event).
async fn a_listing_whose_reader_stops_at_once_is_audited_all_the_same(backend: Backend) {
    let s = setup(backend);
    let add = "users add --tenant seinajoki --email erkki@testi.fi --password-stdin";
    succeeded(&s.run(&add.split(' ').collect::<Vec<_>>(), "oikea hevonen\n"));
    for args in [
        &["users", "list", "--tenant", "seinajoki"][..],
        &["audit", "export", "--tenant", "seinajoki"],
    ] {
        let mut child = s
            .command(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    let mut conn = Manager::new(s.db.backend.clone()).connect().unwrap();
    assert_eq!(
        store::audit::kinds(&mut conn, crate::helpers::tenant("seinajoki")).unwrap(),
        ["user.created", "users.listed", "audit.exported"]
    );
    drop(s.dir);
}

#[test]
fn users_add_refuses_bad_input_with_one_line() {
    let s = setup(Backend::Sqlite);
    let add = |args: &[&str], stdin: &str| s.run(&[&["users", "add"], args].concat(), stdin);
    for (args, stdin, expected) in [
        (
            &["--tenant", "tampere", "--email", "erkki@testi.fi"][..],
            "",
            "error: unknown tenant \"tampere\" (configured: kouvola, seinajoki)\n",
        ),
        (
            &["--tenant", "kouvola", "--email", "erkki"][..],
            "",
            "error: \"erkki\" is not a mail address\n",
        ),
        (
            &[
                "--tenant",
                "kouvola",
                "--email",
                "erkki@testi.fi",
                "--password-stdin",
            ][..],
            "lyhyt\n",
            "error: the password must have at least 8 characters\n",
        ),
    ] {
        let out = add(args, stdin);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(text(&out.stderr), expected, "{args:?}");
    }
    // A user without a password is allowed: they set one through "forgot password".
    let out = add(&["--tenant", "kouvola", "--email", "erkki@testi.fi"], "");
    let stdout = succeeded(&out);
    assert!(stdout.ends_with(", no password yet)\n"), "{stdout}");
}

both_stores!(users_add_refuses_a_name_the_pages_refuse);
/// The display name is checked as the account and registration pages check it (a line break
/// would reach ID tokens and mails): nothing is written.
async fn users_add_refuses_a_name_the_pages_refuse(backend: Backend) {
    let s = setup(backend);
    let add = ["users", "add", "--tenant", "seinajoki", "--email", "a@b.fi"];
    let long = "ä".repeat(201);
    for (name, expected) in [
        (
            "A\nB",
            "error: the name holds a control or invisible character\n",
        ),
        (&long, "error: the name is longer than 200 characters\n"),
    ] {
        let out = s.idp(&[&add[..], &["--name", name]].concat());
        failed_with(&out, 1, expected);
    }
    let list = succeeded(&s.idp(&["users", "list", "--tenant", "seinajoki"]));
    assert!(list.ends_with("\n0 users\n"), "{list}");
    drop(s.dir);
}

both_stores!(migrate_applies_then_is_up_to_date);
async fn migrate_applies_then_is_up_to_date(backend: Backend) {
    let s = setup(backend);
    let first = s.run(&["migrate"], "");
    assert_eq!(
        succeeded(&first),
        crate::helpers::migration_versions()
            .iter()
            .map(|v| format!("applied {v}\n"))
            .collect::<String>()
    );
    let second = s.run(&["migrate"], "");
    assert_eq!(succeeded(&second), "the database is up to date\n");
    // A newer version migrated the database since (an upgrade rolled back): this build says so.
    let mut conn = Manager::new(s.db.backend.clone()).connect().unwrap();
    diesel::sql_query("INSERT INTO __diesel_schema_migrations (version) VALUES ('20991231000001')")
        .execute(&mut *conn)
        .unwrap();
    failed_with(
        &s.run(&["migrate"], ""),
        1,
        "error: the database has migrations this build does not know (20991231000001): a newer version of idp migrated it; run that version\n",
    );
}

#[test]
/// A password no form can send (a NUL, a line break inside it) is refused at once: an authority
/// user without an address given one could never log in, nor reset it.
fn a_password_with_a_control_character_is_refused() {
    let s = setup(Backend::Sqlite);
    let add = ["users", "add", "--tenant", "seinajoki", "--authority"];
    for password in ["pitkä\0salasana\n", "pitkä\rsalasana\n"] {
        let out = s.run(
            &[&add[..], &["--username", "Ohjaus1", "--password-stdin"]].concat(),
            password,
        );
        failed_with(
            &out,
            1,
            "error: the password has a control character (a line break, a tab, a NUL)\n",
        );
    }
    let listed = succeeded(&s.run(&["users", "list", "--tenant", "seinajoki"], ""));
    assert!(listed.ends_with("0 users\n"), "{listed}");
}

#[test]
fn an_authority_user_logs_in_with_a_username() {
    let s = setup(Backend::Sqlite);
    let add = ["users", "add", "--tenant", "seinajoki", "--authority"];
    let out = s.run(
        &[
            &add[..],
            &["--username", "Rakennusvalvonta7", "--password-stdin"],
        ]
        .concat(),
        "viranomaisen salasana\n",
    );
    let stdout = succeeded(&out);
    assert!(
        stdout.starts_with("added authority user Rakennusvalvonta7 to seinajoki"),
        "{stdout}"
    );
    // The same name in another case is the same user.
    let again = s.run(
        &[&add[..], &["--username", "rakennusvalvonta7"]].concat(),
        "",
    );
    failed_with(
        &again,
        1,
        "error: a user with the username rakennusvalvonta7 already exists in tenant seinajoki\n",
    );
    // --authority needs --username; a resident needs --email.
    let usage = s.run(&["users", "add", "--tenant", "seinajoki"], "");
    assert_eq!(usage.status.code(), Some(2));
    let mut conn = Manager::new(s.db.backend.clone()).connect().unwrap();
    let user = store::users::find_by_username(
        &mut conn,
        crate::helpers::tenant("seinajoki"),
        "rakennusvalvonta7",
    )
    .unwrap()
    .unwrap();
    assert!(user.is_authority && user.email.is_none());
    assert_eq!(user.username.as_deref(), Some("Rakennusvalvonta7"));
}

#[test]
fn keys_rotate_then_list() {
    let s = setup(Backend::Sqlite);
    let rotate = ["keys", "rotate", "--tenant", "kouvola"];
    let out = s.run(&[&rotate[..], &["--alg", "ES256"]].concat(), "");
    let stdout = succeeded(&out);
    assert!(stdout.starts_with("kouvola: new ES256 key "), "{stdout}");
    let list = s.run(&["keys", "list", "--tenant", "kouvola"], "");
    let stdout = text(&list.stdout);
    let rows: Vec<&str> = stdout.lines().skip(1).collect();
    assert_eq!(
        rows.len(),
        4,
        "three current keys and the new one: {stdout}"
    );
    assert_eq!(
        rows.iter().filter(|r| r.contains(" ES256 ")).count(),
        2,
        "{stdout}"
    );
    let out = s.run(&[&rotate[..], &["--alg", "HS256"]].concat(), "");
    assert_eq!(out.status.code(), Some(2), "a usage error");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("invalid value 'HS256' for '--alg <ALG>'"),
        "{stderr}"
    );
    // Another key-encryption key would seal a key no node can open: refused, nothing stored.
    let keys = || text(&s.run(&["keys", "list", "--tenant", "kouvola"], "").stdout);
    let before = keys();
    let mut other_key = s.command(&rotate);
    other_key.env("IDP__KEYS__ENCRYPTION_KEY", crate::helpers::test_kek());
    let out = run(&mut other_key, "");
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("error: a stored key does not decrypt"),
        "{stderr}"
    );
    assert_eq!(keys(), before, "the refused rotation stored no key");
    // On a public server, the development key only where `serve` would take it (a rotation where
    // the key's variable was lost, sudo or cron, sealed keys no node could open).
    let before = keys();
    let (path, original) = s.edit("idp.toml", |t| {
        t.lines()
            .filter(|line| !line.starts_with("encryption_key"))
            .collect::<Vec<_>>()
            .join("\n")
    });
    let development = s.path("development.key");
    let mut public = s.command(&rotate);
    public
        .env("IDP__SERVER__PUBLIC_URL", "https://idp.example.fi")
        .env("IDP__KEYS__DEVELOPMENT_KEY_FILE", &development);
    let out = run(&mut public, "");
    assert_eq!(out.status.code(), Some(2));
    assert_has(
        &text(&out.stderr),
        "keys.encryption_key: is not set, and the public URL is https://",
    );
    assert!(!development.exists());
    std::fs::write(path, original).unwrap();
    assert_eq!(keys(), before);
}

#[test]
fn only_serving_needs_the_relays_password_in_its_environment() {
    let s = setup(Backend::Sqlite);
    let smtp = |args: &[&str]| {
        let mut command = s.command(args);
        command
            .env("IDP__MAIL__TRANSPORT", "smtp")
            .env("IDP__MAIL__HOST", "127.0.0.1")
            .env("IDP__MAIL__USERNAME", "idp")
            .env("IDP__MAIL__PASSWORD_ENV", "IDP_TEST_RELAY_PASSWORD_UNSET")
            .env_remove("IDP_TEST_RELAY_PASSWORD_UNSET");
        run(&mut command, "")
    };
    // A scheduled backup and a support command send no mail: they run without it.
    succeeded(&smtp(&["migrate"]));
    let backup = s.path("backup.sqlite");
    succeeded(&smtp(&["backup", "--to", backup.to_str().unwrap()]));
    succeeded(&smtp(&["users", "list", "--tenant", "seinajoki"]));
    // A node would send mail: check-config and serve refuse, naming the variable.
    let unset = "error: environment variable IDP__MAIL__PASSWORD_ENV: mail.password_env: the \
                 environment variable IDP_TEST_RELAY_PASSWORD_UNSET is not set\n";
    failed_with(&smtp(&["check-config"]), 2, unset);
    failed_with(&smtp(&["serve"]), 2, unset);
}

#[test]
fn clients_are_listed_and_a_new_secret_comes_with_its_hash() {
    use sha2::Digest;
    let s = setup(Backend::Sqlite);
    let listed = succeeded(&s.idp(&["clients", "list", "--tenant", "seinajoki"]));
    assert_eq!(
        listed,
        "CLIENT\tAUTHENTICATION\tSECRET\tGRANTS\tCONSENT\tREDIRECT URIS\n\
         seinajoki-demo\tclient_secret_basic\tPLAIN\tauthorization_code,refresh_token\tno\t\
         http://localhost:8081/callback\n"
    );
    let printed = succeeded(&s.idp(&["clients", "new-secret"]));
    let lines: Vec<&str> = printed.lines().collect();
    let new = lines[0]
        .strip_prefix("client secret (for the e-service only, over a separate channel): ")
        .unwrap();
    assert!(new.len() >= 43, "{printed}");
    let hash = hex::encode(sha2::Sha256::digest(new.as_bytes()));
    assert_eq!(lines[1], format!("client_secret_sha256 = \"{hash}\""));
    assert_ne!(printed, succeeded(&s.idp(&["clients", "new-secret"])));

    // A rotation under way: the new hash, and until when the previous one is taken.
    s.edit("tenants/kouvola.toml", |text| {
        text.replace(
            "client_secret = \"demo-secret-kouvola\"",
            &format!(
                "{}\nprevious_client_secret_sha256 = \"{}\"\n\
                 previous_secret_expires = \"2027-01-31T12:00:00+02:00\"",
                lines[1],
                "b".repeat(64)
            ),
        )
    });
    let listed = succeeded(&s.idp(&["clients", "list", "--tenant", "kouvola"]));
    assert!(
        listed.contains(
            "kouvola-demo\tclient_secret_post\thashed, previous until 2027-01-31T10:00:00Z\t"
        ),
        "{listed}"
    );
    failed_with(
        &s.idp(&["clients", "list", "--tenant", "tampere"]),
        1,
        "error: unknown tenant \"tampere\" (configured: kouvola, seinajoki)\n",
    );
}

#[test]
fn check_config_accepts_the_demo() {
    let out = run(idp().current_dir(project_root()).arg("check-config"), "");
    assert_eq!(
        succeeded(&out),
        "config/idp.toml: ok (2 tenants: kouvola, seinajoki; 2 clients)\n"
    );
}

#[test]
fn check_config_names_file_and_key_of_every_problem() {
    let s = setup(Backend::Sqlite);
    let (tenant, _) = s.edit("tenants/kouvola.toml", |text| {
        text.replace("policy = \"email-link\"", "policy = \"email-links\"")
            .replace(
                "first_party = true",
                "first_party = true\nfirst_partyy = true",
            )
    });
    let file = tenant.display().to_string();
    let expected = format!(
        "error: {file}: policy: unknown variant `email-links`, expected `keep-password` or `email-link`\n\
         error: {file}: clients[0].first_partyy: unknown field `first_partyy`, expected one of `client_id`, `name`, `client_secret`, `client_secret_sha256`, `previous_client_secret_sha256`, `previous_secret_expires`, `redirect_uris`, `post_logout_redirect_uris`, `backchannel_logout_uri`, `grant_types`, `token_endpoint_auth_method`, `first_party`, `id_token_signed_response_alg`, `jwks_uri`, `assertion_audience`, `require_pkce`, `scopes`, `web_origins`, `onward_origins`\n"
    );
    let out = s.run(&["check-config"], "");
    failed_with(&out, 2, &expected);
    assert_eq!(text(&out.stdout), "");

    // Every other command refuses the same configuration the same way.
    let out = s.run(&["serve"], "");
    failed_with(&out, 2, &expected);
}

#[test]
fn config_comes_from_idp_config_and_overrides_from_the_environment() {
    let s = setup(Backend::Sqlite);
    let out = run(
        idp()
            .env("IDP_CONFIG", &s.config)
            .env("IDP__DATABASE__URL", "mysql://nowhere")
            .arg("check-config"),
        "",
    );
    failed_with(
        &out,
        2,
        "error: environment variable IDP__DATABASE__URL: database.url: must start with sqlite:// or postgres://\n",
    );
    let out = run(idp().env("IDP_CONFIG", &s.config).arg("check-config"), "");
    succeeded(&out);
}

#[test]
fn usage_errors_exit_2_without_a_panic() {
    let out = run(idp().args(["users"]), "");
    assert_eq!(out.status.code(), Some(2));
    assert!(!text(&out.stderr).contains("panicked"));
    let out = run(
        idp().args(["--config", "/nonexistent/idp.toml", "migrate"]),
        "",
    );
    failed_with(
        &out,
        2,
        "error: /nonexistent/idp.toml: cannot read: No such file or directory (os error 2)\n",
    );
}

both_stores!(serve_answers_and_stops_on_sigterm);
async fn serve_answers_and_stops_on_sigterm(backend: Backend) {
    let s = setup(backend);
    // On PostgreSQL the URL carries a password (which the test server, trusting its clients,
    // ignores): it must never reach the log.
    let url =
        s.db.url
            .replacen("postgres://idp@", "postgres://idp:s3cret@", 1);
    assert_eq!(
        url.contains(":s3cret@"),
        backend == Backend::Postgres,
        "{url}"
    );
    let mut served = start(
        s.command(&[])
            .env("IDP__SERVER__BIND", "127.0.0.1:0")
            .env("IDP__DATABASE__URL", &url),
    );
    let early: Vec<String> = served
        .events_until_listening()
        .iter()
        .map(|e| e.to_string())
        .collect();
    let (status, body) = get(served.address, "/healthz");
    assert_eq!(status, 200, "{body}");
    for tenant in ["seinajoki", "kouvola"] {
        let (status, body) = get(
            served.address,
            &format!("/{tenant}/.well-known/openid-configuration"),
        );
        assert_eq!(status, 200);
        let document: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            document["issuer"],
            format!("http://localhost:8080/{tenant}")
        );
    }

    if backend == Backend::Postgres {
        // A request in flight when SIGTERM arrives still gets its answer: hold /healthz's read
        // behind a table lock, stop the server, then let the read go.
        use diesel::Connection;
        use diesel::connection::SimpleConnection;
        let mut locker = diesel::PgConnection::establish(&s.db.url).unwrap();
        locker
            .batch_execute("BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE;")
            .unwrap();
        let mut in_flight = TcpStream::connect(served.address).unwrap();
        write!(
            in_flight,
            "GET /healthz HTTP/1.1\r\nHost: idp\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        sigterm(&served.child);
        // Long enough for a forced shutdown (shutdown_timeout_seconds = 0) to have dropped it.
        std::thread::sleep(Duration::from_millis(2000));
        assert!(
            served.child.try_wait().unwrap().is_none(),
            "exited with a request in flight"
        );
        locker.batch_execute("COMMIT;").unwrap();
        let (status, body) = read_response(in_flight);
        assert_eq!(status, 200, "{body}");
    } else {
        sigterm(&served.child);
    }

    let exit = wait_exit(&mut served.child, Duration::from_secs(15));
    assert!(exit.success(), "{exit:?}");
    let rest: Vec<String> = served.log.try_iter().collect();
    assert!(
        rest.iter().any(|l| l.contains("\"message\":\"stopped\"")),
        "{rest:#?}"
    );
    // Nothing secret reaches the log: not the database URL, not a client secret.
    for secret in ["demo-secret", "s3cret"] {
        let leaked = early.iter().chain(&rest).any(|l| l.contains(secret));
        assert!(!leaked, "{secret}: {early:#?} {rest:#?}");
    }
}

#[test]
fn serve_on_the_demo_config_creates_its_sqlite_file_under_data() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&project_root().join("config"), &dir.path().join("config"));
    let mut served = serve(
        idp()
            .current_dir(dir.path())
            .env("IDP__SERVER__BIND", "127.0.0.1:0"),
    );
    assert!(dir.path().join("data/idp.sqlite").is_file());
    let (status, body) = get(served.address, "/healthz");
    assert_eq!(
        (status, body.as_str()),
        (200, r#"{"database":"sqlite","status":"ok"}"#)
    );
    let (status, _) = get(served.address, "/kouvola/.well-known/openid-configuration");
    assert_eq!(status, 200);
    sigterm(&served.child);
    assert!(wait_exit(&mut served.child, Duration::from_secs(15)).success());
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

both_stores!(a_public_server_refuses_the_development_key);
/// `idp serve` with an `https://` public URL and no `keys.encryption_key` refuses to start on the
/// development key, naming the setting (and `check-config` says the same), unless the operator
/// sets `keys.allow_development_key`.
async fn a_public_server_refuses_the_development_key(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(backend, dir.path());
    let config = write_config(dir.path(), "https://login.example.fi", &db.url);
    for_a_public_server(dir.path());
    let text_of = std::fs::read_to_string(&config).unwrap();
    let start = text_of.find("[keys]").unwrap();
    std::fs::write(&config, &text_of[..start]).unwrap();
    let dev_key = dir.path().join("dev-kek");
    let command = || {
        let mut command = idp();
        command
            .arg("--config")
            .arg(&config)
            .env("IDP__KEYS__DEVELOPMENT_KEY_FILE", &dev_key)
            .env("IDP__SERVER__BIND", "127.0.0.1:0");
        command
    };
    let expected = format!(
        "error: {}: keys.encryption_key: is not set, and the public URL is https://: signing keys would be encrypted with the development key in {}; set keys.encryption_key (IDP__KEYS__ENCRYPTION_KEY) to 32 random bytes in base64, or set keys.allow_development_key = true (IDP__KEYS__ALLOW_DEVELOPMENT_KEY) to run on the development key all the same\n",
        config.display(),
        dev_key.display()
    );

    let out = run(command().arg("serve"), "");
    failed_with(&out, 2, &expected);
    assert!(!dev_key.exists(), "no development key was made");
    let out = run(command().arg("check-config"), "");
    failed_with(&out, 2, &expected);
    assert_eq!(text(&out.stdout), "");

    // The explicit override, in the environment: it serves (on a development key it made).
    let out = run(
        command()
            .env("IDP__KEYS__ALLOW_DEVELOPMENT_KEY", "true")
            .arg("check-config"),
        "",
    );
    succeeded(&out);
    let mut served = serve(command().env("IDP__KEYS__ALLOW_DEVELOPMENT_KEY", "true"));
    let (status, body) = get(served.address, "/healthz");
    assert_eq!(status, 200, "{body}");
    assert!(dev_key.exists());
    sigterm(&served.child);
    let exit = wait_exit(&mut served.child, Duration::from_secs(15));
    assert!(exit.success(), "{exit:?}");

    // A key of its own needs no override.
    let out = run(
        command()
            .env("IDP__KEYS__ENCRYPTION_KEY", crate::helpers::test_kek())
            .arg("check-config"),
        "",
    );
    succeeded(&out);
}

/// `idp --config <config> <args>` on a free port.
fn idp_with(config: &Path, args: &[&str]) -> std::process::Command {
    let mut command = idp();
    command
        .arg("--config")
        .arg(config)
        .env("IDP__SERVER__BIND", "127.0.0.1:0")
        .args(args);
    command
}

/// Starts `command` (`idp serve`), asks `/healthz`, stops it with SIGTERM: it served.
fn serves(command: &mut std::process::Command) {
    let mut served = serve(command);
    let (status, body) = get(served.address, "/healthz");
    assert_eq!(status, 200, "{body}");
    sigterm(&served.child);
    let exit = wait_exit(&mut served.child, Duration::from_secs(15));
    assert!(exit.success(), "{exit:?}");
}

both_stores!(a_public_server_refuses_the_demo_logins_and_secrets);
/// `idp serve` with an `https://` public URL refuses to start on the demo's tenant files as
/// shipped: their exports, imported at every start, hold the authority account `viranomainen`
/// whose password README.md prints, README.md prints their clients' secrets too, and they link
/// no privacy notice. Exit status
/// 2, one line per problem naming file and key, the same from `check-config`, and nothing
/// imported. Once the files are fit for a public server it starts, and a demo secret given as its
/// SHA-256 is refused all the same.
async fn a_public_server_refuses_the_demo_logins_and_secrets(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(backend, dir.path());
    let config = write_config(dir.path(), "https://login.example.fi", &db.url);
    let tenant = |id: &str| dir.path().join(format!("tenants/{id}.toml"));
    let import = |id: &str, file: &str| {
        format!(
            "error: {}: legacy.import_at_start: is for demo configurations, and the public URL is https://: {file} would be imported again at every start of every node (the demo exports' accounts and password are published in README.md); remove the key and import the city's export with idp import-legacy (docs/migration.md)\n",
            tenant(id).display()
        )
    };
    let plain = |id: &str| {
        format!(
            "error: {}: clients[0].client_secret: is in plain text, and the public URL is https://: give client_secret_sha256 instead, the SHA-256 of a secret of 32 random bytes or more (openssl rand -base64 32; docs/configuration.md)\n",
            tenant(id).display()
        )
    };
    let redirect = |id: &str, uri: &str| {
        format!(
            "error: {}: clients[0].redirect_uris[0]: \"{uri}\" is http://, and the public URL is https://: an e-service's server takes its codes at an https:// URI (RFC 9700 §2.6); only a native app (token_endpoint_auth_method = \"none\") may use http://127.0.0.1\n",
            tenant(id).display()
        )
    };
    let privacy = |id: &str| {
        format!(
            "error: {}: privacy_url: is not set, and the public URL is https://: the foot of every page and every mail links the city's privacy notice (tietosuojaseloste, GDPR Art. 13), and residents would have none; set privacy_url to the address where the city publishes it\n",
            tenant(id).display()
        )
    };
    let expected = [
        privacy("kouvola"),
        import("kouvola", "config/legacy/kouvola.jsonl"),
        plain("kouvola"),
        redirect("kouvola", "http://localhost:8082/callback"),
        privacy("seinajoki"),
        import("seinajoki", "config/legacy/seinajoki.csv"),
        plain("seinajoki"),
        redirect("seinajoki", "http://localhost:8081/callback"),
    ]
    .concat();
    let out = run(&mut idp_with(&config, &["check-config"]), "");
    failed_with(&out, 2, &expected);
    assert_eq!(text(&out.stdout), "");
    failed_with(&run(&mut idp_with(&config, &["serve"]), ""), 2, &expected);
    // The attack fails: the demo's authority account is not there to log in as.
    succeeded(&run(&mut idp_with(&config, &["migrate"]), ""));
    let viranomainen = || {
        let mut conn = Manager::new(db.backend.clone()).connect().unwrap();
        let seinajoki = crate::helpers::tenant("seinajoki");
        store::legacy::find_by_username(&mut conn, seinajoki, "viranomainen").unwrap()
    };
    assert_eq!(viranomainen(), None);

    // Fit for a public server: no export at start, the secrets as SHA-256, the redirects https.
    // It serves.
    for_a_public_server(dir.path());
    let out = run(&mut idp_with(&config, &["check-config"]), "");
    assert_eq!(
        succeeded(&out),
        format!(
            "{}: ok (2 tenants: kouvola, seinajoki; 2 clients)\n",
            config.display()
        )
    );
    serves(&mut idp_with(&config, &[]));
    assert_eq!(viranomainen(), None);

    // The demo's secret, hashed, is the demo's secret still.
    let demo = "dfe917587ab6d3a87be76b8bb396b3ec0b63a805f8cefe3bfdfac120a3c45531";
    let text_of = std::fs::read_to_string(tenant("seinajoki")).unwrap();
    let start = text_of.find("client_secret_sha256 = \"").unwrap() + 24;
    let hashed = format!("{}{demo}{}", &text_of[..start], &text_of[start + 64..]);
    std::fs::write(tenant("seinajoki"), hashed).unwrap();
    let expected = format!(
        "error: {}: clients[0].client_secret_sha256: is the SHA-256 of the demo secret \"demo-secret-seinajoki\" published in README.md, and the public URL is https://: give the SHA-256 of a secret of 32 random bytes or more (openssl rand -base64 32)\n",
        tenant("seinajoki").display()
    );
    failed_with(
        &run(&mut idp_with(&config, &["check-config"]), ""),
        2,
        &expected,
    );
    failed_with(&run(&mut idp_with(&config, &["serve"]), ""), 2, &expected);
}

/// The certification run's configuration (`scripts/conformance/`), its placeholders filled as
/// its harness fills them: `https://` on loopback, its e-services' redirects `http://` on
/// loopback too. It passes the public-server rules, or `.ci/run`'s conformance run cannot start.
#[test]
fn the_conformance_configuration_passes_the_public_server_rules() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().display().to_string();
    let from = project_root().join("scripts/conformance");
    let main = std::fs::read_to_string(from.join("idp.toml"))
        .unwrap()
        .replace("@PORT@", "18080")
        .replace("@TLS_PORT@", "18443")
        .replace("@WORK@", &work)
        .replace("@KEY@", &crate::helpers::test_kek());
    let config = dir.path().join("idp.toml");
    std::fs::write(&config, main).unwrap();
    std::fs::create_dir_all(dir.path().join("tenants")).unwrap();
    let tenant = std::fs::read_to_string(from.join("tenant.toml"))
        .unwrap()
        .replace("@RP@", "http://127.0.0.1:18999/");
    std::fs::write(dir.path().join("tenants/conformance.toml"), tenant).unwrap();
    let out = run(&mut idp_with(&config, &["check-config"]), "");
    assert_eq!(
        succeeded(&out),
        format!(
            "{}: ok (1 tenant: conformance; 3 clients)\n",
            config.display()
        )
    );
}

both_stores!(a_public_server_refuses_unencrypted_mail_to_another_host);
/// With an `https://` public URL, `mail.tls = "none"` towards a relay that is not on this host
/// (every reset and sign-in link, and a relay password, in clear on the network) stops `idp serve`
/// with exit status 2 and `check-config` with the same line, unless the operator sets
/// `mail.allow_remote_plaintext`; a relay on this host needs no such setting.
async fn a_public_server_refuses_unencrypted_mail_to_another_host(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(backend, dir.path());
    let config = write_config(dir.path(), "https://login.example.fi", &db.url);
    for_a_public_server(dir.path());
    let text_of = std::fs::read_to_string(&config).unwrap();
    let (start, end) = (
        text_of.find("[mail]").unwrap(),
        text_of.find("[tenants]").unwrap(),
    );
    let smtp = "[mail]\ntransport = \"smtp\"\nhost = \"mailrelay.example.fi\"\ntls = \"none\"\n\
                from = \"idp <no-reply@example.fi>\"\n\n";
    let edited = format!("{}{smtp}{}", &text_of[..start], &text_of[end..]);
    std::fs::write(&config, edited).unwrap();
    let expected = format!(
        "error: {}: mail.tls: is \"none\" towards mail.host mailrelay.example.fi, which is not this host, and the public URL is https://: the mails' links (and a relay password) would cross the network unencrypted; use \"starttls\" or \"tls\", or set mail.allow_remote_plaintext = true (IDP__MAIL__ALLOW_REMOTE_PLAINTEXT) for a relay on a network you trust\n",
        config.display()
    );
    let out = run(&mut idp_with(&config, &["check-config"]), "");
    failed_with(&out, 2, &expected);
    assert_eq!(text(&out.stdout), "");
    failed_with(&run(&mut idp_with(&config, &["serve"]), ""), 2, &expected);

    // A relay on this host.
    let local = || {
        let mut command = idp_with(&config, &[]);
        command.env("IDP__MAIL__HOST", "127.0.0.1");
        command
    };
    succeeded(&run(local().arg("check-config"), ""));
    // The explicit override, in the environment: it serves (no mail is due, none is sent).
    let allowed = || {
        let mut command = idp_with(&config, &[]);
        command.env("IDP__MAIL__ALLOW_REMOTE_PLAINTEXT", "true");
        command
    };
    succeeded(&run(allowed().arg("check-config"), ""));
    serves(&mut allowed());
}

both_stores!(a_node_with_another_key_encryption_key_seals_no_key);
/// A node started with another key-encryption key than the one that sealed the stored keys stops
/// before it creates any: a tenant added meanwhile (no keys yet) gets no key sealed under the
/// wrong key, which no other node could open at its next start.
async fn a_node_with_another_key_encryption_key_seals_no_key(backend: Backend) {
    let s = setup(backend);
    // Every tenant's keys, under the configuration's key.
    succeeded(&s.run(&["keys", "rotate", "--tenant", "kouvola"], ""));
    let kouvola = std::fs::read_to_string(s.path("tenants/kouvola.toml")).unwrap();
    let lahti = kouvola
        .replace("id = \"kouvola\"", "id = \"lahti\"")
        .replace("kouvola-demo", "lahti-demo");
    std::fs::write(s.path("tenants/lahti.toml"), lahti).unwrap();
    let mut other_key = s.command(&["serve"]);
    other_key
        .env("IDP__KEYS__ENCRYPTION_KEY", crate::helpers::test_kek())
        .env("IDP__SERVER__BIND", "127.0.0.1:0");
    let out = run(&mut other_key, "");
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("error: a stored key does not decrypt"),
        "{stderr}"
    );
    let list = succeeded(&s.run(&["keys", "list", "--tenant", "lahti"], ""));
    assert_eq!(list.lines().count(), 1, "only the header: {list}");
}
