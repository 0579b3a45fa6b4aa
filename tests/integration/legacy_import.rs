//! `idp import-legacy`, `idp legacy report | set-email | delete` and `legacy.import_at_start`, through the
//! real binary on both stores.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::r2d2::ManageConnection;
use idp::store::schema::{legacy_accounts, mail_outbox};
use idp::store::{self, DbConnection, Manager};

use crate::both_stores;
use crate::helpers::{Backend, append, assert_has};
use crate::node::{self, Setup, succeeded, text};

/// One row over each cost cap (`crypto::legacy::over_cap`), and one just within them.
pub(crate) const OVER_CAPS: &str = "\
username,subject,email,password_hash,name,authority
bcrypt15,,a@testi.fi,$2b$15$cd/PVnsiDJWMgHzgjB6kau.clFYNpL7uSV7.RvpKRpDfZlfAkPTY2,,
sha512,,b@testi.fi,$6$rounds=1000001$Z4bpj4wF9dn4fmPX$.QwhICvr3HCdjUW3QuDObHJ8CfGsxrx4j2kvdiwZTXKFe5claminEjKAiQ.7w1kb459KgfrfQaTekaGB0rjSe1,,
pbkdf2,,c@testi.fi,$pbkdf2-sha256$2000001$55yzNmbsXasVwvjfO4dw7g$nty87UT3PKjRvpHtE/DG.DucF.pYPiLQnpwjkFbdFfw,,
django,,d@testi.fi,pbkdf2_sha256$4294967295$QAodWHhGl3VC$HU2Sd76mENc5Z+koKQjpSfG0tTtpg9MAY+hy5n0D3hw=,,
argon2m,,e@testi.fi,\"$argon2id$v=19$m=65537,t=2,p=4$2tvbW4uRUkqJMQagVAoh5A$sm0qcih8xKHgts8hD4ohmKHJs6rGiujfiugfqp4MDqw\",,
argon2t,,f@testi.fi,\"$argon2i$v=19$m=1024,t=11,p=4$1drb+59z7l3rvXdOCWFszQ$oYrTi7pFNN6K7sgFHlwdlPN8DasSs7r88FfWNgpnrIE\",,
scryptn,,g@testi.fi,\"$scrypt$ln=17,r=8,p=1$mRNCqPWec+79X6uVco6xlg$WX8uyMK0t3Vrxpw3K89wgtvz5cYbL8yjkew9HJ4oRyg\",,
scryptp,,h@testi.fi,\"$scrypt$ln=16,r=8,p=5$mRNCqPWec+79X6uVco6xlg$WX8uyMK0t3Vrxpw3K89wgtvz5cYbL8yjkew9HJ4oRyg\",,
within,,i@testi.fi,$2b$04$cd/PVnsiDJWMgHzgjB6kau.clFYNpL7uSV7.RvpKRpDfZlfAkPTY2,,
";

both_stores!(hashes_over_a_cost_cap_are_imported_unusable_and_counted);
/// Rows whose hash costs more than a cap are imported, as unusable (their residents get the
/// mailed link), and counted apart in the dry run, the import and its audit event.
async fn hashes_over_a_cost_cap_are_imported_unusable_and_counted(backend: Backend) {
    let s = setup(backend);
    let file = s.file("caps.csv", OVER_CAPS.as_bytes());
    let unusable = [
        "bcrypt15", "sha512", "pbkdf2", "django", "argon2m", "argon2t", "scryptn", "scryptp",
    ];
    s.imports_unusable(&file, (9, 0), &unusable);
    let out = s.idp(&["legacy", "report", "--tenant", "seinajoki"]);
    assert!(
        text(&out.stdout).contains("unusable hashes          8"),
        "{}",
        text(&out.stdout)
    );
}

both_stores!(hashes_not_of_their_formats_exact_form_are_imported_unusable);
/// A bcrypt string that the `bcrypt` crate would run at cost 31 although its first two cost
/// characters read 03, +3 or $3, and PBKDF2 digests of 1 and 2 bytes (one password in 256 or
/// 65,536 would match): imported as unusable, of an unknown format, never as usable hashes.
async fn hashes_not_of_their_formats_exact_form_are_imported_unusable(backend: Backend) {
    let s = setup(backend);
    let export = "\
username,subject,email,password_hash,name,authority
nolla,,a@testi.fi,$2b$031$cd/PVnsiDJWMgHzgjB6kau.clFYNpL7uSV7.RvpKRpDfZlfAkPTY2,,
plus,,b@testi.fi,$2b$+31$cd/PVnsiDJWMgHzgjB6kau.clFYNpL7uSV7.RvpKRpDfZlfAkPTY2,,
tyhja,,c@testi.fi,$2b$$31$cd/PVnsiDJWMgHzgjB6kau.clFYNpL7uSV7.RvpKRpDfZlfAkPTY2,,
passlib,,d@testi.fi,$pbkdf2-sha256$1000$c3VvbGE$gg,,
django,,e@testi.fi,pbkdf2_sha256$1000$suola$gvg=,,
within,,f@testi.fi,$2b$04$cd/PVnsiDJWMgHzgjB6kau.clFYNpL7uSV7.RvpKRpDfZlfAkPTY2,,
";
    let file = s.file("malformed.csv", export.as_bytes());
    let unusable = ["nolla", "plus", "tyhja", "passlib", "django"];
    s.imports_unusable(&file, (6, 5), &unusable);
}

/// The salted SHA layout given to seinajoki: `<text salt>,<hex SHA-1>`, so that a detected
/// hash can hold a comma and a quote.
const SALTED_SHA: &str = r#"
[legacy.salted_sha]
digest = "sha1"
separator = ","
order = "salt-hash"
hash_encoding = "hex"
salt_encoding = "text"
input = "salt-password"
"#;

/// Every column; quoted fields with commas, doubled quotes and spaces; a scrypt hash (commas),
/// a salted SHA-1 whose text salt has a quote, an unknown hash with a comma and a quote.
const EXPORT: &str = "\
username,subject,email,password_hash,name,authority
Matti.M,S-1001, Matti.Meikalainen@Testi.FI ,\"x\"\"y,fa32a665ffd9edd6d71b9925238c0e3153c2e5c8\",\"Meikäläinen, Matti \"\"Masa\"\"\",yes
liisa,,liisa@testi.fi,$2b$04$cd/PVnsiDJWMgHzgjB6kau.clFYNpL7uSV7.RvpKRpDfZlfAkPTY2,Liisa Laine,no
perhe.isa,,perhe@testi.fi,\"$scrypt$ln=8,r=8,p=1$mRNCqPWec+79X6uVco6xlg$WX8uyMK0t3Vrxpw3K89wgtvz5cYbL8yjkew9HJ4oRyg\",Isä,0
perhe.aiti,,PERHE@Testi.fi,,Äiti,
vanha,,,\"{SSHA}a,\"\"b\",,FALSE
";

/// What importing [`EXPORT`] into an empty tenant prints.
const EXPORT_COUNTS: &str = "\
rows read: 5
imported (new): 5
updated: 0
unchanged: 0
linked accounts left alone: 0
without email: 1
emails shared by several accounts: 1 addresses, 2 accounts
hashes bcrypt: 1
hashes scrypt: 1
hashes salted-sha1: 1
unusable hashes: 2 (1 empty, 1 of an unknown format, 0 over a cost cap)
rejected rows: 0
";

/// A configuration over a fresh database ([`node::setup`]) whose tenants have no `[legacy]`
/// tables of the demo; seinajoki has [`SALTED_SHA`].
fn setup(backend: Backend) -> Setup {
    let s = node::setup(backend);
    for tenant in ["seinajoki", "kouvola"] {
        let path = s.path(&format!("tenants/{tenant}.toml"));
        let text = without_legacy_tables(&std::fs::read_to_string(&path).unwrap());
        std::fs::write(&path, text).unwrap();
    }
    append(&s.path("tenants/seinajoki.toml"), SALTED_SHA);
    s
}

/// A demo tenant file without its `[legacy]` tables (the demo export imported at start, the demo
/// salted SHA layout): these tests give their own.
fn without_legacy_tables(text: &str) -> String {
    let mut kept = String::new();
    let mut skipping = false;
    for line in text.lines() {
        if line.starts_with('[') {
            skipping = line.starts_with("[legacy]") || line.starts_with("[legacy.");
        }
        if !skipping {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    kept
}

impl Setup {
    /// Writes `contents` to a file of the temporary directory; returns its path.
    fn file(&self, name: &str, contents: &[u8]) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path.display().to_string()
    }

    /// `idp import-legacy --tenant seinajoki <file> <more>`, which must succeed; its stdout.
    /// Imports `file` of `rows` new accounts, after a dry run that counts the same: one usable
    /// bcrypt hash among them (the account `within`), the rest unusable (`unknown` of an unknown
    /// format, the others over a cost cap); each account of `unusable` has no usable hash.
    fn imports_unusable(&self, file: &str, (rows, unknown): (usize, usize), unusable: &[&str]) {
        let (bad, over) = (rows - 1, rows - 1 - unknown);
        let counts = format!(
            "rows read: {rows}\nimported (new): {rows}\nupdated: 0\nunchanged: 0\n\
             linked accounts left alone: 0\nwithout email: 0\n\
             emails shared by several accounts: 0 addresses, 0 accounts\nhashes bcrypt: 1\n\
             unusable hashes: {bad} (0 empty, {unknown} of an unknown format, {over} over a cost \
             cap)\nrejected rows: 0\n"
        );
        assert_eq!(
            self.import(file, &["--dry-run"]),
            format!("dry run: nothing was written\n{counts}")
        );
        assert_eq!(self.import(file, &[]), counts);
        for username in unusable {
            let account = self.account(username);
            assert_eq!(account.hash_format, None, "{username}");
            assert!(!account.has_usable_hash(None), "{username}");
        }
        assert!(self.account("within").has_usable_hash(None));
    }

    fn import(&self, file: &str, more: &[&str]) -> String {
        let mut args = vec!["import-legacy", "--tenant", "seinajoki", file];
        args.extend_from_slice(more);
        let out = self.idp(&args);
        let stdout = succeeded(&out);
        assert_eq!(text(&out.stderr), "", "no progress bar off a terminal");
        stdout
    }

    fn conn(&self) -> DbConnection {
        Manager::new(self.db.backend.clone())
            .connect()
            .unwrap()
            .into_inner()
    }

    fn account(&self, username: &str) -> store::legacy::LegacyRow {
        store::legacy::find_by_username(
            &mut self.conn(),
            crate::helpers::tenant("seinajoki"),
            username,
        )
        .unwrap()
        .unwrap_or_else(|| panic!("no legacy account {username}"))
    }

    fn count(&self, tenant: &str) -> i64 {
        legacy_accounts::table
            .filter(legacy_accounts::tenant_id.eq(tenant))
            .count()
            .get_result(&mut self.conn())
            .unwrap()
    }

    /// Adds a user with `idp users add` and binds the legacy account `username` to it at `at`.
    /// (`users add` refuses the legacy account's own address, so the user gets `new.{email}`.)
    fn link(&self, username: &str, email: &str, at: &str) {
        let email = format!("new.{email}");
        let out = self.idp(&["users", "add", "--tenant", "seinajoki", "--email", &email]);
        succeeded(&out);
        let mut conn = self.conn();
        let user = crate::helpers::find_user(&mut conn, "seinajoki", &email);
        let at = chrono::NaiveDateTime::parse_from_str(at, "%Y-%m-%d %H:%M:%S").unwrap();
        let account = self.account(username);
        assert!(
            store::legacy::link(
                &mut conn,
                crate::helpers::tenant("seinajoki"),
                &account.id,
                &user.id,
                at,
                store::legacy::Proof::Address(account.email_normalized.as_deref()),
            )
            .unwrap()
        );
    }
}

both_stores!(a_csv_with_tricky_quoting_imports_every_column);
async fn a_csv_with_tricky_quoting_imports_every_column(backend: Backend) {
    let s = setup(backend);
    let file = s.file("export.csv", EXPORT.as_bytes());
    assert_eq!(s.import(&file, &[]), EXPORT_COUNTS);

    let matti = s.account("matti.m");
    assert_eq!(matti.username, "Matti.M");
    assert_eq!(matti.subject, "S-1001");
    assert_eq!(matti.email.as_deref(), Some("Matti.Meikalainen@Testi.FI"));
    assert_eq!(
        matti.email_normalized.as_deref(),
        Some("matti.meikalainen@testi.fi")
    );
    assert_eq!(
        matti.password_hash.as_deref(),
        Some("x\"y,fa32a665ffd9edd6d71b9925238c0e3153c2e5c8")
    );
    assert_eq!(matti.hash_format.as_deref(), Some("salted-sha1"));
    assert_eq!(matti.name.as_deref(), Some("Meikäläinen, Matti \"Masa\""));
    assert!(matti.is_authority);
    assert!(matti.linked_user_id.is_none() && matti.linked_at.is_none());

    let liisa = s.account("liisa");
    assert_eq!(
        liisa.subject, "liisa",
        "the subject defaults to the username"
    );
    assert_eq!(liisa.hash_format.as_deref(), Some("bcrypt"));
    assert!(!liisa.is_authority);
    let isa = s.account("perhe.isa");
    assert!(
        isa.password_hash
            .unwrap()
            .starts_with("$scrypt$ln=8,r=8,p=1$")
    );
    assert_eq!(isa.hash_format.as_deref(), Some("scrypt"));
    let aiti = s.account("perhe.aiti");
    assert_eq!(aiti.email_normalized.as_deref(), Some("perhe@testi.fi"));
    assert_eq!((aiti.password_hash, aiti.hash_format), (None, None));
    let vanha = s.account("vanha");
    assert_eq!(vanha.password_hash.as_deref(), Some("{SSHA}a,\"b"));
    assert_eq!(vanha.hash_format, None, "unknown: unusable, kept");
    assert_eq!((vanha.email, vanha.name), (None, None));
    assert_eq!(s.count("kouvola"), 0);

    let mut conn = s.conn();
    assert_eq!(
        store::audit::kinds(&mut conn, crate::helpers::tenant("seinajoki")).unwrap(),
        ["legacy.import_started", "legacy.imported"]
    );
    let detail: String = store::schema::audit_events::table
        .filter(store::schema::audit_events::kind.eq("legacy.imported"))
        .select(store::schema::audit_events::detail.assume_not_null())
        .first(&mut conn)
        .unwrap();
    let detail: serde_json::Value = serde_json::from_str(&detail).unwrap();
    assert_eq!(detail["imported"], 5);
    assert_eq!(detail["hash_formats"]["scrypt"], 1);
    assert_eq!(detail["file"], file.as_str());
}

both_stores!(json_lines_import_the_same);
async fn json_lines_import_the_same(backend: Backend) {
    let s = setup(backend);
    let jsonl = r#"{"username":"Matti.M","subject":"S-1001","email":" Matti.Meikalainen@Testi.FI ","password_hash":"x\"y,fa32a665ffd9edd6d71b9925238c0e3153c2e5c8","name":"Meikäläinen, Matti \"Masa\"","authority":true}
{"username":"liisa","email":"liisa@testi.fi","password_hash":"$2b$04$cd/PVnsiDJWMgHzgjB6kau.clFYNpL7uSV7.RvpKRpDfZlfAkPTY2","name":"Liisa Laine","authority":"no"}

{"username":"perhe.isa","subject":null,"email":"perhe@testi.fi","password_hash":"$scrypt$ln=8,r=8,p=1$mRNCqPWec+79X6uVco6xlg$WX8uyMK0t3Vrxpw3K89wgtvz5cYbL8yjkew9HJ4oRyg","name":"Isä","authority":0}
{"username":"perhe.aiti","email":"PERHE@Testi.fi","name":"Äiti"}
{"username":"vanha","password_hash":"{SSHA}a,\"b","authority":false}
{"username":"rikki",
{"username":"toinen","pasword_hash":"x"}
"#;
    let file = s.file("export.jsonl", jsonl.as_bytes());
    let expected = EXPORT_COUNTS.replace("rows read: 5", "rows read: 7").replace(
        "rejected rows: 0\n",
        "rejected rows: 2\n\
         line 7: not a JSON object: EOF while parsing a value (column 20)\n\
         line 8: unknown key \"pasword_hash\" (the keys are username, subject, email, password_hash, name, authority)\n",
    );
    assert_eq!(s.import(&file, &[]), expected);
    let matti = s.account("matti.m");
    assert_eq!(
        (
            matti.subject.as_str(),
            matti.password_hash.as_deref(),
            matti.name.as_deref(),
            matti.is_authority
        ),
        (
            "S-1001",
            Some("x\"y,fa32a665ffd9edd6d71b9925238c0e3153c2e5c8"),
            Some("Meikäläinen, Matti \"Masa\""),
            true
        )
    );
    assert_eq!(
        s.account("perhe.aiti").email.as_deref(),
        Some("PERHE@Testi.fi")
    );
    assert!(!s.account("perhe.isa").is_authority);
    assert_eq!(s.count("seinajoki"), 5);

    // --format names the format of a file whose name does not.
    let other = s.file("export.txt", b"{\"username\":\"uusi\"}\n");
    let out = s.import(&other, &["--format", "jsonl"]);
    assert_has(&out, "\nimported (new): 1\n");
}

both_stores!(bad_rows_are_refused_with_their_line_and_the_others_imported);
async fn bad_rows_are_refused_with_their_line_and_the_others_imported(backend: Backend) {
    let s = setup(backend);
    s.import(&s.file("export.csv", EXPORT.as_bytes()), &[]);
    let mut bad = b"username,subject,email,password_hash,name,authority
ok1,,ok1@testi.fi,,,
OK1,,,,,
ok2,ok1,,,,
has space,,,,,
ok3,,not-an-address,,,
ok4,,,,,maybe
ok5,,
ok6,,,,,
ok7,,,,"
        .to_vec();
    bad.extend_from_slice(&[0xff, b',', b'\n']);
    bad.extend_from_slice(
        b",,,,,
ok8,S-1001,,,,
\"ok\n9\",,,,,
",
    );
    let out = s.import(&s.file("bad.csv", &bad), &[]);
    assert_eq!(
        out,
        "\
rows read: 12
imported (new): 2
updated: 0
unchanged: 0
linked accounts left alone: 0
without email: 1
emails shared by several accounts: 1 addresses, 2 accounts
unusable hashes: 2 (2 empty, 0 of an unknown format, 0 over a cost cap)
not in this file (unlinked): 5 (--retire-missing deletes them)
rejected rows: 10
line 3: username repeated from line 2
line 4: subject \"ok1\" repeated from line 2
line 5: username \"has space\" contains a space or a control character
line 6: email: \"not-an-address\" is not a mail address
line 7: authority: \"maybe\" is not true/false, 1/0 or yes/no
line 8: expected 6 fields, found 3
line 10: name: not valid UTF-8 (byte 1)
line 11: username is empty
line 12: subject \"S-1001\" belongs to the account \"Matti.M\"
line 13: username \"ok\\n9\" contains a space or a control character
"
    );
    assert_eq!(s.count("seinajoki"), 7);
    assert!(s.account("ok6").email.is_none());

    // Refused rows are listed up to 100, all counted.
    let mut many = String::from("username,email\n");
    for i in 0..150 {
        many.push_str(&format!("r{i},bad\n"));
    }
    let out = s.import(&s.file("many.csv", many.as_bytes()), &[]);
    assert_has(&out, "rejected rows: 150\nline 2: ");
    assert_has(&out, "\nline 101: ");
    assert!(!out.contains("\nline 102: "), "{out}");
    assert!(out.ends_with("\n… and 50 more\n"), "{out}");
}

both_stores!(control_characters_in_a_name_or_hash_are_refused_by_line);
/// A NUL in a name, a hash or a username (a raw byte in CSV, `\u0000` in JSON Lines) would fail
/// PostgreSQL's insert and stop the import at that batch on every run (SQLite would take it):
/// those rows are refused by line on both stores, as is a name over the users' 200 characters,
/// and the others are imported.
async fn control_characters_in_a_name_or_hash_are_refused_by_line(backend: Backend) {
    let s = setup(backend);
    let mut csv = b"username,subject,email,password_hash,name,authority
ok1,,ok1@testi.fi,,Matti,
nul.nimi,,,,Mat"
        .to_vec();
    csv.extend_from_slice(b"\0ti,\nnul.tiiviste,,,$2b$04$\0x,,\n");
    csv.extend_from_slice(format!("pitka.nimi,,,,{},\nok2,,,,,\n", "ä".repeat(201)).as_bytes());
    csv.extend_from_slice(b"mat\0ti,,,,,\n");
    let out = s.import(&s.file("control.csv", &csv), &[]);
    assert_eq!(
        out,
        "\
rows read: 6
imported (new): 2
updated: 0
unchanged: 0
linked accounts left alone: 0
without email: 1
emails shared by several accounts: 0 addresses, 0 accounts
unusable hashes: 2 (2 empty, 0 of an unknown format, 0 over a cost cap)
rejected rows: 4
line 3: name: the name holds a control or invisible character
line 4: password_hash contains a control character
line 5: name: the name is longer than 200 characters
line 7: username \"mat\\0ti\" contains a space or a control character
"
    );
    let jsonl = r#"{"username":"nul.json","name":"Matti\u0000"}
{"username":"hash.json","password_hash":"$2b$04$\u0000"}
{"username":"ok3","name":"Matti"}
{"username":"nul\u0000"}
"#;
    let out = s.import(&s.file("control.jsonl", jsonl.as_bytes()), &[]);
    assert_has(&out, "\nimported (new): 1\n");
    assert_has(
        &out,
        "\nrejected rows: 3\n\
         line 1: name: the name holds a control or invisible character\n\
         line 2: password_hash contains a control character\n\
         line 4: username \"nul\\0\" contains a space or a control character\n",
    );
    assert_eq!(s.count("seinajoki"), 3);
    assert_eq!(s.account("ok3").name.as_deref(), Some("Matti"));
}

both_stores!(a_dry_run_writes_nothing_and_prints_the_counts);
async fn a_dry_run_writes_nothing_and_prints_the_counts(backend: Backend) {
    let s = setup(backend);
    let file = s.file("export.csv", EXPORT.as_bytes());
    let out = s.import(&file, &["--dry-run"]);
    assert_eq!(
        out,
        format!("dry run: nothing was written\n{EXPORT_COUNTS}")
    );
    assert_eq!(s.count("seinajoki"), 0);
    assert!(
        store::audit::kinds(&mut s.conn(), crate::helpers::tenant("seinajoki"))
            .unwrap()
            .is_empty()
    );

    s.import(&file, &[]);
    let changed = EXPORT.replace("Liisa Laine", "Liisa Virtanen");
    let changed = s.file("changed.csv", changed.as_bytes());
    let out = s.import(&changed, &["--dry-run"]);
    assert!(
        out.starts_with(
            "dry run: nothing was written\nrows read: 5\nimported (new): 0\nupdated: 1\nunchanged: 4\n"
        ),
        "{out}"
    );
    assert_eq!(s.account("liisa").name.as_deref(), Some("Liisa Laine"));
    assert_eq!(
        store::audit::kinds(&mut s.conn(), crate::helpers::tenant("seinajoki")).unwrap(),
        ["legacy.import_started", "legacy.imported"]
    );
}

both_stores!(a_reimport_changes_only_what_changed_and_never_a_linked_account);
async fn a_reimport_changes_only_what_changed_and_never_a_linked_account(backend: Backend) {
    let s = setup(backend);
    let file = s.file("export.csv", EXPORT.as_bytes());
    s.import(&file, &[]);
    let before = s.account("perhe.isa");
    let again = s.import(&file, &[]);
    assert_eq!(
        again,
        EXPORT_COUNTS
            .replace("imported (new): 5", "imported (new): 0")
            .replace("unchanged: 0", "unchanged: 5")
    );
    assert_eq!(s.account("perhe.isa"), before, "not even updated_at moves");

    s.link("liisa", "liisa@testi.fi", "2026-11-30 08:00:00");
    let changed = EXPORT
        .replace(
            "liisa,,liisa@testi.fi,",
            "liisa,L-2002,liisa.laine@testi.fi,",
        )
        .replace("Meikäläinen, Matti", "Meikäläinen, Matti J.")
        .replace(
            "perhe.aiti,,PERHE@Testi.fi,,Äiti,",
            "perhe.aiti,,PERHE@Testi.fi,,Äiti,true",
        )
        + "uusi,,uusi@testi.fi,,,\n";
    let out = s.import(&s.file("changed.csv", changed.as_bytes()), &[]);
    // The counts of the first import but for these.
    let expected = [
        ("rows read: 5", "rows read: 6"),
        ("imported (new): 5", "imported (new): 1"),
        ("updated: 0", "updated: 2"),
        ("unchanged: 0", "unchanged: 2"),
        (
            "linked accounts left alone: 0",
            "linked accounts left alone: 1",
        ),
        ("unusable hashes: 2 (1 empty", "unusable hashes: 3 (2 empty"),
    ]
    .iter()
    .fold(EXPORT_COUNTS.to_string(), |counts, (was, is)| {
        counts.replacen(was, is, 1)
    });
    assert_eq!(out, expected);
    let liisa = s.account("liisa");
    assert_eq!(liisa.subject, "liisa", "a linked account keeps its subject");
    assert_eq!(liisa.email.as_deref(), Some("liisa@testi.fi"));
    assert!(liisa.linked_user_id.is_some());
    let matti = s.account("matti.m");
    assert_eq!(
        matti.name.as_deref(),
        Some("Meikäläinen, Matti J. \"Masa\"")
    );
    assert!(matti.updated_at > matti.imported_at);
    assert!(s.account("perhe.aiti").is_authority);
    assert_eq!(s.count("seinajoki"), 6);
}

/// A fresh setup with [`EXPORT`] imported.
fn imported(backend: Backend) -> Setup {
    let s = setup(backend);
    s.import(&s.file("export.csv", EXPORT.as_bytes()), &[]);
    s
}

both_stores!(a_reimport_never_moves_an_accounts_subject_unless_told);
/// Another city's file imported by mistake: its `liisa` has another subject, address and hash. The
/// row is refused and Liisa's account keeps all of hers (its first login will bind her history,
/// not the other Liisa's); the dry run says the same. Given `--allow-subject-change` (the old
/// system did change it), the row updates the account. Before, it was updated silently.
async fn a_reimport_never_moves_an_accounts_subject_unless_told(backend: Backend) {
    let s = imported(backend);
    let before = s.account("liisa");
    let kouvolas = "liisa,KVL-77,liisa.virtanen@kouvola.example,";
    let other = s.file(
        "kouvola.csv",
        EXPORT
            .replace("liisa,,liisa@testi.fi,", kouvolas)
            .as_bytes(),
    );
    let refusal = "rejected rows: 1\nline 3: subject \"KVL-77\" is not the account's \"liisa\": \
                   the e-services keep its history under that one (is this the tenant's file?); \
                   give --allow-subject-change if the old system changed it\n";
    for dry_run in [&["--dry-run"][..], &[]] {
        let out = s.import(&other, dry_run);
        assert_has(&out, "updated: 0\nunchanged: 4\n");
        assert_has(&out, refusal);
    }
    assert_eq!(s.account("liisa"), before);

    let out = s.import(&other, &["--allow-subject-change"]);
    assert_has(&out, "updated: 1\nunchanged: 4\n");
    let liisa = s.account("liisa");
    assert_eq!(liisa.subject, "KVL-77");
    assert_eq!(
        liisa.email.as_deref(),
        Some("liisa.virtanen@kouvola.example")
    );
}

both_stores!(an_old_username_a_user_has_already_is_refused);
/// An official added with `idp users add --username MattiV`, then an export whose new old account
/// is `mattiv` too: the row is refused by line (its first login would make a user of a username
/// another user has, and the old account could never log in: its right password read as wrong),
/// and the rest is imported. Before, it was imported.
async fn an_old_username_a_user_has_already_is_refused(backend: Backend) {
    let s = setup(backend);
    let add = ["users", "add", "--tenant", "seinajoki", "--authority"];
    let args = [&add[..], &["--username", "MattiV", "--password-stdin"]].concat();
    succeeded(&s.run(&args, "viranomaisen salasana\n"));
    // And a new account's username with a zero-width space: nobody could type it.
    let export = s.file(
        "export.csv",
        "username,email,password_hash,name\nmattiv,matti.v@testi.fi,,Matti V\nliisa,,,Liisa\n\
         matti\u{200b}m,,,Matti M\n"
            .as_bytes(),
    );
    let refusal = "rejected rows: 2\nline 2: username \"mattiv\" is a user's of idp already \
                   (idp users add): the old account could never log in; rename one of them\n\
                   line 4: username \"matti\\u{200b}m\" contains an invisible character (a \
                   zero-width space, a direction mark, a soft hyphen): nobody could type it\n";
    for dry_run in [&["--dry-run"][..], &[]] {
        let out = s.import(&export, dry_run);
        assert_has(&out, "imported (new): 1\n");
        assert_has(&out, refusal);
    }
    let mut conn = s.conn();
    let tenant = crate::helpers::tenant("seinajoki");
    assert_eq!(
        idp::store::legacy::find_by_username(&mut conn, tenant, "mattiv").unwrap(),
        None
    );
}

/// An export of `rows` plain rows.
fn big_export(path: &Path, rows: usize) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(out, "username,email,password_hash,name").unwrap();
    for i in 0..rows {
        writeln!(
            out,
            "user{i:06},user{i:06}@example.fi,$2y$04$Yh5UJpdVp5uKz9bHep/oVevFqOtl3L24vBhc4ZxbkdV187Xmb2Bf.,\"Asukas, {i}\""
        )
        .unwrap();
    }
    out.flush().unwrap();
}

both_stores!(a_killed_import_leaves_whole_batches_and_a_rerun_completes_it);
async fn a_killed_import_leaves_whole_batches_and_a_rerun_completes_it(backend: Backend) {
    const ROWS: usize = 200_000;
    let s = setup(backend);
    let path = s.dir.path().join("big.csv");
    big_export(&path, ROWS);
    let migrate = s.idp(&["migrate"]);
    succeeded(&migrate);

    let mut child = s
        .command(&["import-legacy", "--tenant", "kouvola"])
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while s.count("kouvola") < 3000 {
        assert!(Instant::now() < deadline, "no rows after a minute");
        assert!(child.try_wait().unwrap().is_none(), "the import ended");
        std::thread::sleep(Duration::from_millis(10));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "killed before it finished"
    );

    let done = s.count("kouvola");
    assert!(done > 0 && done < ROWS as i64, "{done}");
    assert_eq!(done % 1000, 0, "only whole batches: {done}");
    // The audit trail tells what wrote the committed batches: a run that started and never ended.
    let kouvola = crate::helpers::tenant("kouvola");
    assert_eq!(
        store::audit::kinds(&mut s.conn(), kouvola).unwrap(),
        ["legacy.import_started"]
    );

    let out = s.idp(&[
        "import-legacy",
        "--tenant",
        "kouvola",
        &path.display().to_string(),
    ]);
    succeeded(&out);
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with(&format!(
            "rows read: {ROWS}\nimported (new): {}\nupdated: 0\nunchanged: {done}\nlinked accounts left alone: 0\n",
            ROWS as i64 - done
        )),
        "{stdout}"
    );
    assert!(stdout.ends_with("rejected rows: 0\n"), "{stdout}");
    assert_eq!(s.count("kouvola"), ROWS as i64);
}

/// A linker's mail to `to` in seinajoki's outbox, naming the old accounts `names` (as
/// `mail_outbox.legacy_account_ids` does; `None` as mail written before it did).
fn linker_mail(s: &Setup, to: &str, names: Option<String>) {
    let now = chrono::DateTime::from_timestamp(1_796_000_000, 0)
        .unwrap()
        .naive_utc();
    let row = store::outbox::MailRow {
        id: format!("mail-{to}-{}", names.is_some()),
        tenant_id: "seinajoki".into(),
        kind: "legacy_link".into(),
        to_address: to.into(),
        subject: "Linkki".into(),
        body_text: "Aiempi käyttäjätunnus".into(),
        body_html: String::new(),
        queue: store::lease_queue::QueueState::pending(now),
        created_at: now,
        sent_at: None,
        user_id: None,
        legacy_account_ids: names,
    };
    store::outbox::insert(&mut s.conn(), &row).unwrap();
}

both_stores!(accounts_a_later_export_no_longer_holds_are_counted_and_retired_on_demand);
/// The old system removed two accounts (an official who left, a resident erased) before its last
/// export: the import says how many unbound accounts the file no longer holds, a dry run with
/// `--retire-missing` only counts them, and `--retire-missing` deletes them, each audited, while a
/// bound account the file no longer holds stays. A file with a line whose username cannot be read
/// retires nothing (that account would look missing). Before, nothing told of them, nothing
/// removed them, and the official's old password went on logging in.
async fn accounts_a_later_export_no_longer_holds_are_counted_and_retired_on_demand(
    backend: Backend,
) {
    let s = setup(backend);
    s.import(&s.file("export.csv", EXPORT.as_bytes()), &[]);
    s.link("liisa", "liisa@testi.fi", "2026-12-01 10:00:00");
    // Matti.M (an authority) and perhe.aiti are gone; liisa is bound.
    let header = "username,subject,email,password_hash,name,authority\n";
    let later = format!("{header}perhe.isa,,perhe@testi.fi,,Isä,0\nvanha,,,,,FALSE\n");
    let later = s.file("later.csv", later.as_bytes());
    let counted = s.import(&later, &[]);
    assert_has(
        &counted,
        "not in this file (unlinked): 2 (--retire-missing deletes them)\n",
    );
    let dry = s.import(&later, &["--retire-missing", "--dry-run"]);
    assert_has(&dry, "not in this file (unlinked): 2");
    assert_eq!(s.count("seinajoki"), 5);
    // A line the reader refuses whole: its username is unknown, nothing is retired.
    let broken = format!("{header}perhe.isa,,,,,\nvanha,,\n");
    let broken = s.file("broken.csv", broken.as_bytes());
    let unread = "not retired: 1 lines could not be read, and their usernames are unknown\n";
    assert_has(&s.import(&broken, &["--retire-missing"]), unread);
    // So does a quote left open in the last column, which takes the lines after it into that
    // field (vanha's here).
    let open = format!("{header}perhe.isa,,perhe@testi.fi,,Isä,\"0\nvanha,,,,,FALSE\n");
    let open = s.file("open.csv", open.as_bytes());
    assert_has(&s.import(&open, &["--retire-missing"]), unread);
    assert_eq!(s.count("seinajoki"), 5);

    // The linker's mail that lists perhe.aiti (at the family's address, which perhe.isa keeps):
    // it goes with her, as with support's deletion; the mail there that names nobody stays.
    let aiti = s.account("perhe.aiti").id;
    linker_mail(&s, "perhe@testi.fi", Some(format!("other-account {aiti}")));
    linker_mail(&s, "perhe@testi.fi", None);
    let retired = s.import(&later, &["--retire-missing"]);
    assert_has(&retired, "retired (not in this file): 2\n");
    let left: Vec<Option<String>> = mail_outbox::table
        .select(mail_outbox::legacy_account_ids)
        .load(&mut s.conn())
        .unwrap();
    assert_eq!(left, [None]);
    assert!(
        !retired.contains("not in this file (unlinked)"),
        "{retired}"
    );
    assert_eq!(s.count("seinajoki"), 3);
    let gone = |username: &str| {
        store::legacy::find_by_username(
            &mut s.conn(),
            crate::helpers::tenant("seinajoki"),
            username,
        )
        .unwrap()
    };
    assert_eq!(gone("matti.m"), None);
    assert_eq!(gone("perhe.aiti"), None);
    assert!(s.account("liisa").linked_user_id.is_some(), "bound: stays");
    let kinds = store::audit::kinds(&mut s.conn(), crate::helpers::tenant("seinajoki")).unwrap();
    assert_eq!(kinds.iter().filter(|k| *k == "legacy.retired").count(), 2);

    // A file cut short retires nothing: its header only, or another tenant's file, however many
    // rows of its own it adds.
    let cut_short = "not retired: the file leaves out more than half of the unlinked accounts (is it the old system's full export?)\n";
    assert_has(
        &s.import(
            &s.file("empty.csv", header.as_bytes()),
            &["--retire-missing"],
        ),
        cut_short,
    );
    let rows: String = (1..=10).map(|n| format!("muu.{n},,,,,\n")).collect();
    let other = s.file("other.csv", format!("{header}{rows}").as_bytes());
    assert_has(&s.import(&other, &["--retire-missing"]), cut_short);
    assert_eq!(s.count("seinajoki"), 13);
}

both_stores!(the_report_tells_how_far_the_migration_has_come);
async fn the_report_tells_how_far_the_migration_has_come(backend: Backend) {
    let s = setup(backend);
    let empty = s.idp(&["legacy", "report", "--tenant", "seinajoki"]);
    succeeded(&empty);
    assert!(text(&empty.stdout).starts_with("legacy accounts          0\n"));

    s.import(&s.file("export.csv", EXPORT.as_bytes()), &[]);
    // Months of the city's time zone: 21.59.59 UTC is 23.59.59 in Helsinki (EET), 22.00 UTC the
    // first moment of December there.
    s.link("liisa", "liisa@testi.fi", "2026-11-30 21:59:59");
    s.link("perhe.isa", "perhe@testi.fi", "2026-11-30 22:00:00");
    s.link("matti.m", "matti@testi.fi", "2026-12-24 12:00:00");
    let out = s.idp(&["legacy", "report", "--tenant", "seinajoki"]);
    succeeded(&out);
    assert_eq!(
        text(&out.stdout),
        "\
legacy accounts          5
linked                   3
not yet linked           2
without email            1
shared emails            1 addresses, 2 accounts
unusable hashes          2
authority accounts       1

accounts per hash format
bcrypt                   1
salted-sha1              1
scrypt                   1
unusable                 2

first logins per month
2026-11  1
2026-12  2
"
    );
    // An erased resident's old account keeps no time of its binding: no month counts it.
    let erase = ["users", "delete", "--tenant", "seinajoki", "--now"];
    succeeded(&s.idp(&[&erase[..], &["--email", "new.matti@testi.fi"]].concat()));
    let out = s.idp(&["legacy", "report", "--tenant", "seinajoki"]);
    assert!(
        text(&out.stdout).ends_with("first logins per month\n2026-11  1\n2026-12  1\n"),
        "{}",
        text(&out.stdout)
    );
    let other = s.idp(&["legacy", "report", "--tenant", "tampere"]);
    assert_eq!(other.status.code(), Some(1));
    assert_eq!(
        text(&other.stderr),
        "error: unknown tenant \"tampere\" (configured: kouvola, seinajoki)\n"
    );
}

both_stores!(support_gives_an_unlinked_account_an_address_or_deletes_it);
async fn support_gives_an_unlinked_account_an_address_or_deletes_it(backend: Backend) {
    let s = setup(backend);
    s.import(&s.file("export.csv", EXPORT.as_bytes()), &[]);
    let set = |username: &str, email: &str| {
        s.idp(&[
            "legacy",
            "set-email",
            "--tenant",
            "seinajoki",
            "--username",
            username,
            "--email",
            email,
        ])
    };
    let out = set("VANHA", " Vanha.Asukas@Testi.FI ");
    succeeded(&out);
    assert_eq!(
        text(&out.stdout),
        "set the address of legacy account vanha of seinajoki to Vanha.Asukas@Testi.FI (it was empty)\n"
    );
    let vanha = s.account("vanha");
    assert_eq!(vanha.email.as_deref(), Some("Vanha.Asukas@Testi.FI"));
    assert_eq!(
        vanha.email_normalized.as_deref(),
        Some("vanha.asukas@testi.fi")
    );

    // An address shared with another account is allowed: the resident chooses at login.
    let out = set("perhe.aiti", "perhe@testi.fi");
    succeeded(&out);
    assert_eq!(
        text(&out.stdout),
        "set the address of legacy account perhe.aiti of seinajoki to perhe@testi.fi (it was PERHE@Testi.fi)\n\
         1 other legacy account has this address: the resident chooses at login\n"
    );

    let unknown = set("nobody", "nobody@testi.fi");
    assert_eq!(unknown.status.code(), Some(1));
    assert_eq!(
        text(&unknown.stderr),
        "error: no legacy account \"nobody\" in tenant seinajoki\n"
    );
    s.link("liisa", "liisa@testi.fi", "2026-11-30 08:00:00");
    let linked = set("liisa", "liisa.laine@testi.fi");
    assert_eq!(linked.status.code(), Some(1));
    assert_eq!(
        text(&linked.stderr),
        "error: the legacy account \"liisa\" is already linked to a user: the address is changed on the account page\n"
    );
    let bad = set("matti.m", "matti");
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(
        text(&bad.stderr),
        "error: \"matti\" is not a mail address\n"
    );
    assert_eq!(s.account("liisa").email.as_deref(), Some("liisa@testi.fi"));

    // Support deletes an unbound old account on its owner's request; a bound one is its user's.
    let delete = |username: &str| {
        let args = ["legacy", "delete", "--tenant", "seinajoki", "--username"];
        s.idp(&[&args[..], &[username]].concat())
    };
    // The linker's mails to the two addresses: one shared with another old account, one not;
    // written before mail named the old accounts it lists (`names` none) or after.
    let mail = |to: &str, names: Option<String>| linker_mail(&s, to, names);
    mail("perhe@testi.fi", None);
    mail("Vanha.Asukas@Testi.FI", None);
    mail("VANHA.asukas@testi.fi", None);
    // Full-width letters: the same address to a key (NFKC), not to SQL's lower().
    mail("Ｖａｎｈａ.Asukas@Testi.FI", None);
    // A mail to the shared address that lists both accounts there, named by them: it goes.
    let both = format!("other-account {}", s.account("perhe.aiti").id);
    mail("perhe@testi.fi", Some(both));
    let before = s.count("seinajoki");
    // By its internal id too, the `account` of its `legacy.*` events (after a restore, the one a
    // lost `legacy.retired` names).
    let by_id = |id: &str| s.idp(&["legacy", "delete", "--tenant", "seinajoki", "--id", id]);
    let unknown = by_id("no-such-id");
    assert_eq!(unknown.status.code(), Some(1));
    assert_eq!(
        text(&unknown.stderr),
        "error: no legacy account \"no-such-id\" in tenant seinajoki\n"
    );
    let out = by_id(&s.account("vanha").id);
    assert_eq!(
        text(&out.stdout),
        "deleted legacy account vanha of seinajoki\n"
    );
    let out = delete("Perhe.Aiti");
    succeeded(&out);
    assert_eq!(
        text(&out.stdout),
        "deleted legacy account perhe.aiti of seinajoki\n"
    );
    assert_eq!(s.count("seinajoki"), before - 2);
    // The linker's mail to vanha's own address, in any spelling, went with it; at the shared
    // address, the mail that names perhe.aiti went, one that names no account stays (written
    // before mail named them, it may list the other account only).
    let left: Vec<String> = mail_outbox::table
        .select(mail_outbox::to_address)
        .load(&mut s.conn())
        .unwrap();
    assert_eq!(left, ["perhe@testi.fi"]);
    let bound = delete("liisa");
    assert_eq!(bound.status.code(), Some(1));
    assert_eq!(
        text(&bound.stderr),
        "error: the legacy account \"liisa\" is already linked to a user: delete the user with idp users delete, which erases its old accounts too\n"
    );
    assert_eq!(s.count("seinajoki"), before - 2);
    assert_eq!(
        store::audit::kinds(&mut s.conn(), crate::helpers::tenant("seinajoki")).unwrap(),
        [
            "legacy.import_started",
            "legacy.imported",
            "legacy.email_set",
            "legacy.email_set",
            "user.created",
            "legacy.retired",
            "legacy.retired"
        ]
    );
}

both_stores!(a_reimport_keeps_the_address_support_set);
/// An address that support set with `idp legacy set-email` survives re-imports of an export that
/// still gives the address it gave then (none, or a wrong one), in a dry run and for real, and
/// the summary says so; the account's other fields still follow the export. Once the export gives
/// the account another address, the export's applies again.
async fn a_reimport_keeps_the_address_support_set(backend: Backend) {
    let s = setup(backend);
    let file = s.file("export.csv", EXPORT.as_bytes());
    s.import(&file, &[]);
    let set = |username: &str, email: &str| {
        let args = ["legacy", "set-email", "--tenant", "seinajoki"];
        succeeded(&s.idp(&[&args[..], &["--username", username, "--email", email]].concat()));
    };
    set("vanha", "Vanha.Asukas@Testi.FI");
    set("perhe.aiti", "aiti@testi.fi");
    let links_before = s.account("perhe.aiti");

    // The same export again: nothing changes, and both corrections stay.
    let again = EXPORT_COUNTS
        .replace("imported (new): 5", "imported (new): 0")
        .replace(
            "unchanged: 0\n",
            "unchanged: 5\nsupport's addresses kept (legacy set-email): 2\n",
        );
    assert_eq!(
        s.import(&file, &["--dry-run"]),
        format!("dry run: nothing was written\n{again}")
    );
    // After the real run the tenant's addresses are counted: perhe.aiti has her own now.
    let again = again.replace("1 addresses, 2 accounts", "0 addresses, 0 accounts");
    assert_eq!(s.import(&file, &[]), again);
    assert_eq!(s.import(&file, &[]), again, "and at every start");
    let vanha = s.account("vanha");
    assert_eq!(vanha.email.as_deref(), Some("Vanha.Asukas@Testi.FI"));
    assert_eq!(
        vanha.email_normalized.as_deref(),
        Some("vanha.asukas@testi.fi")
    );
    assert_eq!(
        s.account("perhe.aiti"),
        links_before,
        "not even updated_at moves"
    );

    // The export names vanha now, and gives perhe.aiti another address than before: vanha keeps
    // support's address (his name follows the export), perhe.aiti takes the export's.
    let changed = EXPORT
        .replace(
            "vanha,,,\"{SSHA}a,\"\"b\",,FALSE",
            "vanha,,,\"{SSHA}a,\"\"b\",Vanha Asukas,FALSE",
        )
        .replace(
            "perhe.aiti,,PERHE@Testi.fi,",
            "perhe.aiti,,Aiti.Perhe@testi.fi,",
        );
    let changed_counts = EXPORT_COUNTS
        .replace("imported (new): 5", "imported (new): 0")
        .replace("updated: 0", "updated: 2")
        .replace(
            "unchanged: 0\n",
            "unchanged: 3\nsupport's addresses kept (legacy set-email): 1\n",
        )
        .replace("1 addresses, 2 accounts", "0 addresses, 0 accounts");
    let changed_file = s.file("changed.csv", changed.as_bytes());
    assert_eq!(s.import(&changed_file, &[]), changed_counts);
    let vanha = s.account("vanha");
    assert_eq!(vanha.email.as_deref(), Some("Vanha.Asukas@Testi.FI"));
    assert_eq!(vanha.name.as_deref(), Some("Vanha Asukas"));
    let aiti = s.account("perhe.aiti");
    assert_eq!(aiti.email.as_deref(), Some("Aiti.Perhe@testi.fi"));
    assert_eq!(
        aiti.email_normalized.as_deref(),
        Some("aiti.perhe@testi.fi")
    );
    // From now on perhe.aiti's address is the export's: the first export again gives it back.
    let back = EXPORT_COUNTS
        .replace("imported (new): 5", "imported (new): 0")
        .replace("updated: 0", "updated: 2")
        .replace(
            "unchanged: 0\n",
            "unchanged: 3\nsupport's addresses kept (legacy set-email): 1\n",
        );
    assert_eq!(s.import(&file, &[]), back);
    assert_eq!(
        s.account("perhe.aiti").email.as_deref(),
        Some("PERHE@Testi.fi")
    );
    assert_eq!(
        s.account("vanha").email.as_deref(),
        Some("Vanha.Asukas@Testi.FI")
    );
}

/// On PostgreSQL an import reads a batch's accounts without locking them: support's
/// `idp legacy set-email` can commit between that read and the batch's update of the same
/// account. The update does not overwrite it: the row is refused with its reason, and the address
/// stays. (SQLite's writer takes its lock before the read, so the import sees support's address.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reimport_leaves_an_address_support_sets_meanwhile() {
    use diesel::Connection;
    if crate::helpers::postgres_admin_url().is_none() {
        return;
    }
    let s = setup(Backend::Postgres);
    s.import(&s.file("export.csv", EXPORT.as_bytes()), &[]);
    let vanha = s.account("vanha");
    // The export changes vanha's name, so the import updates the account.
    let named = EXPORT.replace(
        "vanha,,,\"{SSHA}a,\"\"b\",,FALSE",
        "vanha,,,\"{SSHA}a,\"\"b\",Vanha Asukas,FALSE",
    );
    let file = s.file("named.csv", named.as_bytes());
    let mut support = s.conn();
    let import = support.transaction(|conn| {
        // Support's change, not committed yet: it holds the row's lock.
        let at = idp::clock::Clock::now(&idp::clock::SystemClock);
        let seinajoki = crate::helpers::tenant("seinajoki");
        let email = "vanha.asukas@testi.fi";
        assert!(store::legacy::set_email(conn, seinajoki, &vanha.id, email, email, at).unwrap());
        let import = s
            .command(&["import-legacy", "--tenant", "seinajoki", &file])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Commit once the import has read the account and waits for the lock to update it.
        let mut watcher = diesel::PgConnection::establish(&s.db.url).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let waiting = diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "(SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock' AND query LIKE 'UPDATE \"legacy_accounts\"%')",
        );
        while diesel::select(waiting.clone())
            .get_result::<i64>(&mut watcher)
            .unwrap()
            == 0
        {
            assert!(Instant::now() < deadline, "the import never waited");
            std::thread::sleep(Duration::from_millis(20));
        }
        diesel::QueryResult::Ok(import)
    });
    let out = import.unwrap().wait_with_output().unwrap();
    assert_eq!(
        succeeded(&out),
        "rows read: 5\nimported (new): 0\nupdated: 0\nunchanged: 4\n\
         linked accounts left alone: 0\nwithout email: 0\n\
         emails shared by several accounts: 1 addresses, 2 accounts\nhashes bcrypt: 1\n\
         hashes scrypt: 1\nhashes salted-sha1: 1\n\
         unusable hashes: 1 (1 empty, 0 of an unknown format, 0 over a cost cap)\n\
         rejected rows: 1\n\
         line 6: its address changed during the import (idp legacy set-email, or another \
         import): import the file again\n"
    );
    let vanha = s.account("vanha");
    assert_eq!(vanha.email.as_deref(), Some("vanha.asukas@testi.fi"));
    assert_eq!(vanha.name, None, "the row waits for the next import");
    // Which keeps support's address and takes the name.
    s.import(&file, &[]);
    let vanha = s.account("vanha");
    assert_eq!(vanha.email.as_deref(), Some("vanha.asukas@testi.fi"));
    assert_eq!(vanha.name.as_deref(), Some("Vanha Asukas"));
}

both_stores!(serve_imports_at_start_and_starts_despite_a_bad_file);
async fn serve_imports_at_start_and_starts_despite_a_bad_file(backend: Backend) {
    let s = setup(backend);
    let good = s.file("kouvola.csv", EXPORT.as_bytes());
    let bad = s.file("seinajoki.csv", b"kayttaja,sahkoposti\nmatti,m@t.fi\n");
    append(
        &s.path("tenants/kouvola.toml"),
        &format!("\n[legacy]\nimport_at_start = \"{good}\"\n"),
    );
    s.edit("tenants/seinajoki.toml", |text| {
        text.replace(
            "[legacy.salted_sha]",
            &format!("[legacy]\nimport_at_start = \"{bad}\"\n\n[legacy.salted_sha]"),
        )
    });

    let mut served = node::start(s.command(&[]).env("IDP__SERVER__BIND", "127.0.0.1:0"));
    let events = served.events_until_listening();
    // The service answers (and has its signal handlers) before it is stopped.
    let (status, response) = node::get(served.address, "/healthz");
    assert_eq!(status, 200, "{response}");
    node::sigterm(&served.child);
    // Read to the end, so that the last lines find a reader.
    let rest: Vec<String> = served.log.iter().collect();
    let status = served.child.wait().unwrap();
    assert!(status.success(), "{status:?}: {events:#?} {rest:#?}");
    assert_eq!(
        events.last().unwrap()["message"],
        "listening",
        "{events:#?}"
    );

    let event = |message: &str| {
        events
            .iter()
            .find(|e| e["message"] == message)
            .unwrap_or_else(|| panic!("no {message}: {events:#?}"))
    };
    let imported = event("legacy accounts imported");
    assert_eq!(imported["tenant"], "kouvola");
    assert_eq!(imported["rows_read"], 5);
    assert_eq!(imported["imported"], 5);
    assert_eq!(
        imported["unusable_hashes"], 3,
        "kouvola has no salted SHA layout"
    );
    let failed = event("legacy import failed");
    assert_eq!(failed["level"], "ERROR");
    assert_eq!(failed["tenant"], "seinajoki");
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .starts_with("line 1: unknown column \"kayttaja\""),
        "{failed}"
    );
    assert_eq!(s.count("kouvola"), 5);
    assert_eq!(s.count("seinajoki"), 0);
}

#[test]
fn import_legacy_refuses_what_it_cannot_read() {
    let s = setup(Backend::Sqlite);
    // `idp import-legacy` with `args` exits with `code`: what it says on stderr.
    let refused = |args: &[&str], code: i32| {
        let out = s.idp(&[&["import-legacy"], args].concat());
        assert_eq!(out.status.code(), Some(code), "{args:?}");
        text(&out.stderr)
    };
    let txt = s.file("export.txt", EXPORT.as_bytes());
    assert_eq!(
        refused(&["--tenant", "seinajoki", &txt], 2),
        format!(
            "error: {txt}: cannot tell the format from the file name: give --format csv or --format jsonl\n"
        )
    );
    refused(&["--tenant", "seinajoki", "--format", "xml", &txt], 2);

    let missing = s.dir.path().join("missing.csv").display().to_string();
    assert_eq!(
        refused(&["--tenant", "seinajoki", &missing], 1),
        format!("error: cannot read {missing}: No such file or directory (os error 2)\n")
    );

    let header = s.file("header.csv", b"username,pasword_hash\nmatti,x\n");
    assert_eq!(
        refused(&["--tenant", "seinajoki", &header], 1),
        format!(
            "error: cannot read {header}: line 1: unknown column \"pasword_hash\" (the columns are username, subject, email, password_hash, name, authority)\n"
        )
    );
    refused(&["--tenant", "tampere", &header], 1);
    assert_eq!(s.count("seinajoki"), 0);
}

#[test]
fn check_config_checks_the_legacy_settings() {
    let s = setup(Backend::Sqlite);
    let missing = s.path("missing.csv").display().to_string();
    let (tenant, original) = s.edit("tenants/seinajoki.toml", |text| {
        text.replace("separator = \",\"", "separator = \"\"")
            .replace(
                "[legacy.salted_sha]",
                &format!("[legacy]\nimport_at_start = \"{missing}\"\n\n[legacy.salted_sha]"),
            )
    });
    let out = s.idp(&["check-config"]);
    assert_eq!(out.status.code(), Some(2));
    let file = tenant.display();
    assert_eq!(
        text(&out.stderr),
        format!(
            "error: {file}: legacy.import_at_start: {missing} is not a readable file\n\
             error: {file}: legacy.salted_sha.separator: may be empty only when the salt and the hash are written in one encoding, hex or base64 (as LDAP's {{SSHA}} is)\n"
        )
    );
    std::fs::write(
        &tenant,
        original.replace(
            "[legacy.salted_sha]",
            "[legacy]\nimport_at_start = \"export.xlsx\"\n\n[legacy.salted_sha]",
        ),
    )
    .unwrap();
    let out = s.idp(&["check-config"]);
    assert_eq!(
        text(&out.stderr),
        format!("error: {file}: legacy.import_at_start: must be a .csv, .jsonl or .ndjson file\n")
    );
}
