//! Malformed input at every endpoint and form: each row is one request with its exact answer,
//! and nothing in the database changes (issue 12, point 7).
//!
//! The rows send oversized bodies, repeated and missing parameters, invalid UTF-8, control
//! characters, wrong content types, malformed JWTs and cookies, huge numbers and unknown tenants.
//! Protocol endpoints must answer with their RFC error (`error` of the JSON body, or of the
//! redirect); pages with their status and the reason the error page carries. No row may get a
//! 5xx.

use diesel::RunQueryDsl;
use diesel::sql_types::{Nullable, Text};
use idp::store::DbConnection;
use reqwest::Method;

use crate::both_stores;
use crate::helpers::journeys::{Login, answer, sign_in};
use crate::helpers::{Backend, TestApp, assert_has};
use crate::rp::{self, csrf, param};

const PASSWORD: &str = "oikea hevonen patteri";
const BASIC: &str = "Basic cnAtYmFzaWM6cnAtYmFzaWMtc2VjcmV0"; // rp-basic:rp-basic-secret
const FORM: &str = "application/x-www-form-urlencoded";
/// Cookies of ours that were never set by us: bytes that are not UTF-8, percent-escapes of NUL.
const BAD_COOKIES: &[u8] =
    b"idp-session-seinajoki=%00\xff; idp-flow-seinajoki=\"%01\"; idp-lang-seinajoki=\xc3\x28";
/// The page of a link that is not (or no longer) usable.
const LINK_EXPIRED: &str = "<title>Linkki ei toimi";
/// The address field's error, in Finnish (the tenant's first language).
const EMAIL_INVALID: &str = "Sähköpostiosoite ei ole kelvollinen.";

/// What the answer must be.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// A JSON body with this OAuth `error`.
    OAuth(&'static str),
    /// An error page with this `data-reason`.
    Page(&'static str),
    /// A page (or body) containing this text.
    Contains(&'static str),
    /// A redirect whose `Location` contains this text.
    Redirect(&'static str),
}

/// Which client sends the row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    /// No cookies.
    Nobody,
    /// A browser at the login page of a pending request.
    Visitor,
    /// A signed-in browser.
    Resident,
}

struct Row {
    name: &'static str,
    who: Who,
    method: Method,
    path: String,
    headers: Vec<(&'static str, Vec<u8>)>,
    body: Vec<u8>,
    status: u16,
    shape: Shape,
}

fn row(name: &'static str, who: Who, method: Method, path: impl Into<String>) -> Row {
    Row {
        name,
        who,
        method,
        path: path.into(),
        headers: Vec::new(),
        body: Vec::new(),
        status: 0,
        shape: Shape::Contains(""),
    }
}

impl Row {
    fn header(mut self, name: &'static str, value: impl Into<Vec<u8>>) -> Row {
        self.headers.push((name, value.into()));
        self
    }

    fn form(self, body: impl Into<Vec<u8>>) -> Row {
        let mut row = self.header("content-type", FORM);
        row.body = body.into();
        row
    }

    fn body(mut self, content_type: &'static str, body: impl Into<Vec<u8>>) -> Row {
        self.headers.push(("content-type", content_type.into()));
        self.body = body.into();
        self
    }

    fn expect(mut self, status: u16, shape: Shape) -> Row {
        self.status = status;
        self.shape = shape;
        self
    }
}

/// Every table's rows, as text, table by table (the tables are read from the database's
/// catalogue, so a table added later is covered too).
async fn dump(app: &TestApp) -> Vec<(String, String)> {
    #[derive(diesel::QueryableByName)]
    struct Name {
        #[diesel(sql_type = Text)]
        name: String,
    }
    #[derive(diesel::QueryableByName)]
    struct Dump {
        #[diesel(sql_type = Nullable<Text>)]
        dump: Option<String>,
    }
    app.services
        .store
        .run(|conn| {
            let sqlite = matches!(conn, DbConnection::Sqlite(_));
            let tables = if sqlite {
                "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '__diesel%' ORDER BY name"
            } else {
                "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' \
                 AND tablename NOT LIKE '__diesel%' ORDER BY tablename"
            };
            let tables: Vec<Name> = diesel::sql_query(tables).load(conn)?;
            let mut out = Vec::new();
            for Name { name } in tables {
                let query = if sqlite {
                    let columns: Vec<Name> = diesel::sql_query(format!(
                        "SELECT name FROM pragma_table_info('{name}') ORDER BY cid"
                    ))
                    .load(conn)?;
                    let row = columns
                        .iter()
                        .map(|c| format!("quote(\"{}\")", c.name))
                        .collect::<Vec<_>>()
                        .join(" || ',' || ");
                    format!(
                        "SELECT group_concat(r, char(10)) AS dump FROM \
                         (SELECT {row} AS r FROM \"{name}\" ORDER BY r)"
                    )
                } else {
                    format!(
                        "SELECT string_agg(t::text, chr(10) ORDER BY t::text) AS dump \
                         FROM \"{name}\" t"
                    )
                };
                let dump: Dump = diesel::sql_query(query).get_result(conn)?;
                out.push((name, dump.dump.unwrap_or_default()));
            }
            Ok::<_, idp::store::StoreError>(out)
        })
        .await
        .unwrap()
}

both_stores!(malformed_input_gets_its_error_and_writes_nothing);
async fn malformed_input_gets_its_error_and_writes_nothing(backend: Backend) {
    let app = TestApp::with_user(backend, "erkki@testi.fi", PASSWORD, "Erkki").await;

    // A signed-in resident, with the account page's CSRF token.
    let resident = sign_in(&app, "seinajoki", "erkki@testi.fi", PASSWORD).await;
    let resident_csrf = csrf(&resident.page);

    // A visitor at the login page of a pending request.
    let client = rp::basic(&app).await;
    let login = Login::fresh(&app, &client).await;
    let (visitor, request) = (&login.browser, login.request.as_str());
    let visitor_csrf = csrf(&login.page().await);

    let rows = rows(request);
    // Let the mail worker settle the mails of the setup before the database is read.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let before = dump(&app).await;

    let mut wrong = Vec::new();
    for row in rows {
        let (browser, token) = match row.who {
            Who::Nobody => (&app.http, ""),
            Who::Visitor => (visitor, visitor_csrf.as_str()),
            Who::Resident => (&resident.browser, resident_csrf.as_str()),
        };
        let body = String::from_utf8_lossy(&row.body)
            .contains("{csrf}")
            .then(|| {
                String::from_utf8_lossy(&row.body)
                    .replace("{csrf}", token)
                    .into_bytes()
            });
        let path = row.path.replace("{request}", request);
        let mut builder = browser.request(row.method.clone(), app.url(&path));
        for (name, value) in &row.headers {
            builder = builder.header(
                *name,
                reqwest::header::HeaderValue::from_bytes(value).unwrap(),
            );
        }
        let response = builder
            .body(body.unwrap_or_else(|| row.body.clone()))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .map(|l| String::from_utf8_lossy(l.as_bytes()).into_owned())
            .unwrap_or_default();
        let text = response.text().await.unwrap_or_default();
        let shape_ok = match row.shape {
            Shape::OAuth(code) => {
                serde_json::from_str::<serde_json::Value>(&text).is_ok_and(|v| v["error"] == code)
            }
            Shape::Page(reason) => text.contains(&format!("data-reason=\"{reason}\"")),
            Shape::Contains(part) => text.contains(part),
            Shape::Redirect(part) => location.contains(part),
        };
        if status != row.status || !shape_ok {
            let shown: String = text
                .split("data-reason=\"")
                .nth(1)
                .or_else(|| text.split("<title>").nth(1))
                .unwrap_or(&text)
                .chars()
                .take(120)
                .collect();
            let location: String = location.chars().take(200).collect();
            wrong.push(format!(
                "{}: {status} {location} {shown:?}, expected {} {:?}",
                row.name, row.status, row.shape
            ));
        }
        if status >= 500 {
            wrong.push(format!("{}: a 5xx", row.name));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} rows wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );

    let after = dump(&app).await;
    for ((table, was), (_, is)) in before.iter().zip(&after) {
        let differ: Vec<_> = was
            .lines()
            .zip(is.lines())
            .filter(|(a, b)| a != b)
            .collect();
        assert_eq!(was, is, "the table {table} changed: {differ:#?}");
    }
    assert_eq!(before.len(), after.len());
}

/// The rows; `{request}` in a path and `{csrf}` in a body are the pending request's id and the
/// sender's CSRF token.
fn rows(request: &str) -> Vec<Row> {
    use Shape::*;
    use Who::*;
    let t = "/seinajoki";
    let huge = "9".repeat(40);
    let big = "a".repeat(2 * 1024 * 1024);
    // Long, but within what a URL may carry.
    let long = "a".repeat(8_000);
    let not_a_jwt = "eyJhbGciOiJub25lIn0.e30.";
    let garbage_jwt = "a.b.c";
    // 4 KiB that inflate to 4 MiB: refused unread, before it could grow in memory.
    let gzip_bomb = {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![b'a'; 4 * 1024 * 1024]).unwrap();
        gz.finish().unwrap()
    };
    let id_token = format!("{not_a_jwt}AAAA");
    let ctl = "%0D%0A%00";
    let crlf = "%0D%0A";
    let _ = request;
    vec![
        // --- token (RFC 6749 §5.2)
        row("token json body", Nobody, Method::POST, format!("{t}/token"))
            .header("authorization", BASIC)
            .body("application/json", r#"{"grant_type":"client_credentials"}"#)
            .expect(400, OAuth("invalid_request")),
        row("token no content type", Nobody, Method::POST, format!("{t}/token"))
            .header("authorization", BASIC)
            .expect(400, OAuth("invalid_request")),
        row("token repeated grant_type", Nobody, Method::POST, format!("{t}/token"))
            .header("authorization", BASIC)
            .form("grant_type=authorization_code&grant_type=authorization_code&code=x")
            .expect(400, OAuth("invalid_request")),
        row("token missing grant_type", Nobody, Method::POST, format!("{t}/token"))
            .header("authorization", BASIC)
            .form("code=x")
            .expect(400, OAuth("invalid_request")),
        row("token invalid utf-8", Nobody, Method::POST, format!("{t}/token"))
            .header("authorization", BASIC)
            .form(b"grant_type=\xff\xfe&code=\xc3\x28".to_vec())
            .expect(400, OAuth("unsupported_grant_type")),
        row("token control characters", Nobody, Method::POST, format!("{t}/token"))
            .header("authorization", BASIC)
            .form(format!(
                "grant_type=authorization_code&code=a{ctl}&redirect_uri=http://127.0.0.1:9/callback{ctl}"
            ))
            .expect(400, OAuth("invalid_request")),
        row("token oversized body", Nobody, Method::POST, format!("{t}/token"))
            .header("authorization", BASIC)
            .form(format!("grant_type=authorization_code&code={big}"))
            .expect(413, OAuth("invalid_request")),
        row("token gzip body", Nobody, Method::POST, format!("{t}/token"))
            .header("authorization", BASIC)
            .header("content-encoding", "gzip")
            .form(gzip_bomb.clone())
            .expect(415, OAuth("invalid_request")),
        row("token basic not base64", Nobody, Method::POST, format!("{t}/token"))
            .header("authorization", "Basic %%%")
            .form("grant_type=client_credentials")
            .expect(401, OAuth("invalid_client")),
        row("token basic not utf-8", Nobody, Method::POST, format!("{t}/token"))
            .header("authorization", b"Basic \xff\xfe".to_vec())
            .form("grant_type=client_credentials")
            .expect(401, OAuth("invalid_client")),
        row("token malformed assertion", Nobody, Method::POST, format!("{t}/token"))
            .form(format!(
                "grant_type=client_credentials&client_id=rp-basic&client_assertion_type=\
                 urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&\
                 client_assertion={garbage_jwt}"
            ))
            .expect(401, OAuth("invalid_client")),
        row("token unknown tenant", Nobody, Method::POST, "/nowhere/token")
            .header("authorization", BASIC)
            .form("grant_type=client_credentials")
            .expect(404, OAuth("not_found")),
        row("token refresh token not ours", Nobody, Method::POST, format!("{t}/token"))
            .header("authorization", BASIC)
            .form(format!("grant_type=refresh_token&refresh_token={long}"))
            .expect(400, OAuth("invalid_grant")),
        // --- PAR (RFC 9126)
        row("par wrong content type", Nobody, Method::POST, format!("{t}/par"))
            .header("authorization", BASIC)
            .body("text/plain", "response_type=code")
            .expect(400, OAuth("invalid_request")),
        row("par repeated parameter", Nobody, Method::POST, format!("{t}/par"))
            .header("authorization", BASIC)
            .form(
                "response_type=code&scope=openid&scope=openid&redirect_uri=http://127.0.0.1:9/callback",
            )
            .expect(400, OAuth("invalid_request")),
        row("par huge max_age", Nobody, Method::POST, format!("{t}/par"))
            .header("authorization", BASIC)
            .form(format!(
                "response_type=code&scope=openid&redirect_uri=http://127.0.0.1:9/callback&\
                 code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&\
                 code_challenge_method=S256&max_age={huge}"
            ))
            .expect(400, OAuth("invalid_request")),
        row("par control characters", Nobody, Method::POST, format!("{t}/par"))
            .header("authorization", BASIC)
            .form(format!(
                "response_type=code&scope=openid&redirect_uri=http://127.0.0.1:9/callback{ctl}"
            ))
            .expect(400, OAuth("invalid_request")),
        row("par oversized body", Nobody, Method::POST, format!("{t}/par"))
            .header("authorization", BASIC)
            .form(format!("response_type=code&state={big}"))
            .expect(413, OAuth("invalid_request")),
        // --- introspection (RFC 7662) and revocation (RFC 7009)
        row("introspect missing token", Nobody, Method::POST, format!("{t}/introspect"))
            .header("authorization", BASIC)
            .form("token_type_hint=access_token")
            .expect(400, OAuth("invalid_request")),
        row("introspect repeated token", Nobody, Method::POST, format!("{t}/introspect"))
            .header("authorization", BASIC)
            .form("token=a&token=b")
            .expect(400, OAuth("invalid_request")),
        row("introspect malformed jwt", Nobody, Method::POST, format!("{t}/introspect"))
            .header("authorization", BASIC)
            .form(format!("token={garbage_jwt}%0D%0A"))
            .expect(200, Contains("\"active\":false")),
        row("introspect wrong content type", Nobody, Method::POST, format!("{t}/introspect"))
            .header("authorization", BASIC)
            .body("multipart/form-data", "token=a")
            .expect(400, OAuth("invalid_request")),
        row("revoke missing token", Nobody, Method::POST, format!("{t}/revoke"))
            .header("authorization", BASIC)
            .form("")
            .expect(400, OAuth("invalid_request")),
        row("revoke invalid utf-8", Nobody, Method::POST, format!("{t}/revoke"))
            .header("authorization", BASIC)
            .form(b"token=\xff\xfe\x00".to_vec())
            .expect(400, OAuth("invalid_request")),
        row("revoke oversized body", Nobody, Method::POST, format!("{t}/revoke"))
            .header("authorization", BASIC)
            .form(format!("token={big}"))
            .expect(413, OAuth("invalid_request")),
        // --- userinfo (RFC 6750)
        row("userinfo repeated name with CR LF NUL", Nobody, Method::POST, format!("{t}/userinfo"))
            .form(format!("a{ctl}=1&a{ctl}=2"))
            .expect(400, OAuth("invalid_request")),
        row("userinfo malformed bearer", Nobody, Method::GET, format!("{t}/userinfo"))
            .header("authorization", format!("Bearer {garbage_jwt}"))
            .expect(401, OAuth("invalid_token")),
        row("userinfo unsigned jwt", Nobody, Method::GET, format!("{t}/userinfo"))
            .header("authorization", format!("Bearer {not_a_jwt}"))
            .expect(401, OAuth("invalid_token")),
        row("userinfo not bearer", Nobody, Method::GET, format!("{t}/userinfo"))
            .header("authorization", "Digest x")
            .expect(400, OAuth("invalid_request")),
        row("userinfo header not utf-8", Nobody, Method::GET, format!("{t}/userinfo"))
            .header("authorization", b"Bearer \xff".to_vec())
            .expect(400, OAuth("invalid_request")),
        row("userinfo token in body of wrong type", Nobody, Method::POST, format!("{t}/userinfo"))
            .body("application/json", r#"{"access_token":"x"}"#)
            .expect(400, OAuth("invalid_request")),
        row("userinfo oversized body", Nobody, Method::POST, format!("{t}/userinfo"))
            .form(format!("access_token={big}"))
            .expect(413, OAuth("invalid_request")),
        row("userinfo unknown tenant", Nobody, Method::GET, "/nowhere/userinfo")
            .expect(404, OAuth("not_found")),
        // --- discovery and keys
        row("jwks unknown tenant", Nobody, Method::GET, "/nowhere/jwks")
            .expect(404, OAuth("not_found")),
        row("discovery unknown tenant", Nobody, Method::GET, "/nowhere/.well-known/openid-configuration")
            .expect(404, OAuth("not_found")),
        row("tenant not utf-8", Nobody, Method::GET, "/%FF/jwks")
            .expect(404, OAuth("not_found")),
        row("tenant with NUL", Nobody, Method::GET, "/seinajoki%00/jwks")
            .expect(404, OAuth("not_found")),
        // --- authorization (OIDC Core §3.1.2.6; errors before the client is known are pages)
        row("authorize repeated client_id", Nobody, Method::GET, format!(
            "{t}/authorize?client_id=rp-basic&client_id=rp-basic&response_type=code&scope=openid"
        ))
            .expect(400, Page("bad_request")),
        row("authorize missing client_id", Nobody, Method::GET, format!("{t}/authorize?response_type=code"))
            .expect(400, Page("missing_client")),
        row("authorize invalid utf-8", Nobody, Method::GET, format!("{t}/authorize?client_id=%FF%FE"))
            .expect(400, Page("unknown_client")),
        row("authorize control characters in redirect_uri", Nobody, Method::GET, format!(
            "{t}/authorize?client_id=rp-basic&response_type=code&scope=openid&redirect_uri=http://127.0.0.1:9/callback{crlf}"
        ))
            .expect(400, Page("unregistered_redirect_uri")),
        row("authorize huge max_age", Nobody, Method::GET, format!(
            "{t}/authorize?client_id=rp-basic&response_type=code&scope=openid&redirect_uri=http://127.0.0.1:9/callback\
             &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&max_age={huge}"
        ))
            .expect(303, Redirect("error=invalid_request")),
        row("authorize post wrong content type", Nobody, Method::POST, format!("{t}/authorize"))
            .body("application/json", "{}")
            .expect(400, Page("bad_request")),
        // A page of a tenant that does not exist: the page "not found", not the protocol's JSON.
        row("authorize unknown tenant", Nobody, Method::GET, "/nowhere/authorize?client_id=rp-basic")
            .expect(404, Contains("Sivua ei löydy")),
        // --- logout (RP-Initiated Logout 1.0)
        row("logout malformed id_token_hint", Nobody, Method::GET, format!("{t}/logout?id_token_hint={id_token}"))
            .expect(400, Page("invalid_id_token_hint")),
        row("logout control characters", Nobody, Method::GET, format!(
            "{t}/logout?client_id=rp-basic&post_logout_redirect_uri=http://127.0.0.1:9/bye{ctl}"
        ))
            .expect(400, Page("bad_request")),
        row("logout post wrong content type", Nobody, Method::POST, format!("{t}/logout"))
            .body("text/plain", "x")
            .expect(400, Page("bad_request")),
        // --- login pages
        row("login page unknown request", Visitor, Method::GET, format!("{t}/login?request=x{ctl}"))
            .expect(400, Page("expired")),
        row("identifier without csrf", Visitor, Method::POST, format!("{t}/login/identifier"))
            .form("request={request}&identifier=erkki%40testi.fi")
            .expect(400, Page("csrf")),
        row("identifier wrong content type", Visitor, Method::POST, format!("{t}/login/identifier"))
            .body("application/json", r#"{"csrf":"{csrf}"}"#)
            .expect(400, Page("bad_request")),
        row("oversized form, in English", Nobody, Method::POST, format!("{t}/register"))
            .header("accept-language", "en")
            .form(format!("csrf=x&email={big}"))
            .expect(413, Contains("The request is not valid.")),
        row("gzip form, in English", Nobody, Method::POST, format!("{t}/register"))
            .header("accept-language", "en")
            .header("content-encoding", "gzip")
            .form(gzip_bomb)
            .expect(415, Contains("The request is not valid.")),
        row("wrong content type, in Swedish", Nobody, Method::POST, format!("{t}/forgot"))
            .header("accept-language", "sv")
            .body("application/json", "{}")
            .expect(400, Contains("Begäran är inte giltig.")),
        row("identifier repeated", Visitor, Method::POST, format!("{t}/login/identifier"))
            .form(format!("csrf={{csrf}}&request={request}&identifier=a&identifier=b"))
            .expect(400, Page("bad_request")),
        row("identifier control characters", Visitor, Method::POST, format!("{t}/login/identifier"))
            .form(format!("csrf={{csrf}}&request={request}&identifier=erkki{ctl}%40testi.fi"))
            .expect(400, Page("bad_request")),
        row("identifier unknown request", Visitor, Method::POST, format!("{t}/login/identifier"))
            .form("csrf={csrf}&request=nope{ctl}&identifier=erkki%40testi.fi".replace("{ctl}", ctl))
            .expect(400, Page("bad_request")),
        row("identifier oversized", Visitor, Method::POST, format!("{t}/login/identifier"))
            .form(format!("csrf={{csrf}}&request={request}&identifier={big}"))
            .expect(413, Page("bad_request")),
        row("identifier CR LF", Visitor, Method::POST, format!("{t}/login/identifier"))
            .form(format!("csrf={{csrf}}&request={request}&identifier=erkki%0D%0A%40testi.fi"))
            .expect(200, Contains("current-password")),
        row("identifier invalid utf-8", Visitor, Method::POST, format!("{t}/login/identifier"))
            .form([b"csrf={csrf}&identifier=\xff\xfe&request=".as_slice(), request.as_bytes()].concat())
            .expect(200, Contains("current-password")),
        row("password missing fields", Visitor, Method::POST, format!("{t}/login/password"))
            .form("csrf={csrf}")
            .expect(400, Page("expired")),
        row("choose unknown account", Visitor, Method::POST, format!("{t}/login/choose"))
            .form(format!("csrf={{csrf}}&request={request}&identifier=x%40y.fi&account={long}"))
            .expect(200, Contains("<title>Kirjautuminen")),
        row("language CR LF in return", Visitor, Method::POST, format!("{t}/language"))
            .form(format!("csrf={{csrf}}&lang=en&return=/seinajoki/login{ctl}Set-Cookie:%20x=y"))
            .expect(400, Page("bad_request")),
        row("language NUL in return", Visitor, Method::POST, format!("{t}/language"))
            .form("csrf={csrf}&lang=en&return=/seinajoki/%00")
            .expect(400, Page("bad_request")),
        row("language NUL in return's request", Visitor, Method::POST, format!("{t}/language"))
            .form("csrf={csrf}&lang=fi&return=/seinajoki/login%3Frequest%3D%2500")
            .expect(303, Redirect("/seinajoki/login")),
        row("language dot segments in return", Visitor, Method::POST, format!("{t}/language"))
            .form("csrf={csrf}&lang=en&return=/seinajoki/../kouvola/login")
            .expect(400, Page("bad_request")),
        row("language encoded dot segments in return", Visitor, Method::POST, format!("{t}/language"))
            .form("csrf={csrf}&lang=en&return=/seinajoki/%252e%252e/kouvola/login")
            .expect(400, Page("bad_request")),
        row("language unknown tag", Visitor, Method::POST, format!("{t}/language"))
            .form("csrf={csrf}&lang=xx-%FF&return=/seinajoki/login")
            .expect(303, Redirect("/seinajoki/login")),
        row("claim password without request", Visitor, Method::POST, format!("{t}/login/claim"))
            .form("csrf={csrf}&account=x&password=y")
            .expect(400, Page("expired")),
        row("claim unknown token", Visitor, Method::GET, format!("{t}/claim?token={ctl}"))
            .expect(410, Page("link_expired")),
        row("claim post unknown token", Visitor, Method::POST, format!("{t}/claim"))
            .form("csrf={csrf}&token=%FF&email=a%40%5B127.0.0.1%5D")
            .expect(410, Page("link_expired")),
        row("consent unknown request", Visitor, Method::GET, format!("{t}/consent?request={long}"))
            .expect(400, Page("expired")),
        row("consent post missing request", Visitor, Method::POST, format!("{t}/consent"))
            .form("csrf={csrf}&decision=allow")
            .expect(400, Page("expired")),
        // --- forgot, register, reset, links
        row("forgot IP literal", Visitor, Method::POST, format!("{t}/forgot"))
            .form("csrf={csrf}&email=a%40%5B127.0.0.1%5D")
            .expect(422, Contains(EMAIL_INVALID)),
        row("forgot control characters", Visitor, Method::POST, format!("{t}/forgot"))
            .form(format!("csrf={{csrf}}&email=erkki%40testi.fi{crlf}Bcc:x%40y.fi"))
            .expect(422, Contains(EMAIL_INVALID)),
        row("register IP literal", Visitor, Method::POST, format!("{t}/register"))
            .form("csrf={csrf}&email=a%40%5B127.0.0.1%5D")
            .expect(422, Contains(EMAIL_INVALID)),
        row("register quoted local part", Visitor, Method::POST, format!("{t}/register"))
            .form("csrf={csrf}&email=%22a%5C%22b%22%40testi.fi")
            .expect(422, Contains(EMAIL_INVALID)),
        row("register dot-less domain", Visitor, Method::POST, format!("{t}/register"))
            .form("csrf={csrf}&email=root%40localhost")
            .expect(422, Contains(EMAIL_INVALID)),
        row("register huge address", Visitor, Method::POST, format!("{t}/register"))
            .form(format!("csrf={{csrf}}&email={long}%40testi.fi"))
            .expect(422, Contains(EMAIL_INVALID)),
        row("register without csrf", Visitor, Method::POST, format!("{t}/register"))
            .form("email=erkki%40testi.fi")
            .expect(400, Page("csrf")),
        row("register complete unknown token", Visitor, Method::GET, format!("{t}/register/complete?token={ctl}"))
            .expect(410, Page("link_expired")),
        row("register complete post unknown token", Visitor, Method::POST, format!("{t}/register/complete"))
            .form(format!(
                "csrf={{csrf}}&token={long}&password={pw}&password2={pw}",
                pw = PASSWORD.replace(' ', "+")
            ))
            .expect(410, Page("link_expired")),
        row("reset unknown token", Visitor, Method::GET, format!("{t}/reset?token=%FF{ctl}"))
            .expect(410, Page("link_expired")),
        row("reset post repeated token", Visitor, Method::POST, format!("{t}/reset"))
            .form("csrf={csrf}&token=a&token=b")
            .expect(400, Page("bad_request")),
        row("email confirm unknown token", Visitor, Method::GET, format!("{t}/email/confirm?token={long}"))
            .expect(410, Contains(LINK_EXPIRED)),
        row("email confirm post unknown token", Visitor, Method::POST, format!("{t}/email/confirm"))
            .form("csrf={csrf}&token=%00")
            .expect(400, Page("bad_request")),
        row("email undo unknown token", Visitor, Method::GET, format!("{t}/email/undo?token=%0D%0A"))
            .expect(410, Contains(LINK_EXPIRED)),
        row("email undo post wrong content type", Visitor, Method::POST, format!("{t}/email/undo"))
            .body("text/plain", "token=x")
            .expect(400, Page("bad_request")),
        // --- the account page
        row("account form with malformed cookies", Nobody, Method::POST, format!("{t}/account/name"))
            .header("cookie", BAD_COOKIES)
            .form("csrf=x&name=Erkki")
            .expect(400, Page("csrf")),
        row("consent with malformed cookies", Nobody, Method::GET, format!("{t}/consent?request=x"))
            .header("cookie", BAD_COOKIES)
            .expect(400, Page("expired")),
        row("logout unregistered return", Nobody, Method::GET, format!(
            "{t}/logout?client_id=rp-basic&post_logout_redirect_uri=http://127.0.0.1:9/bye{crlf}"
        ))
            .expect(200, Contains("Olet kirjautunut ulos")),
        row("account legacy not one of the resident's", Resident, Method::POST, format!("{t}/account/legacy"))
            .form(format!("csrf={{csrf}}&account={crlf}{long}"))
            .expect(409, Contains("<title>Omat tiedot")),
        row("logout with malformed cookies", Nobody, Method::GET, format!("{t}/logout"))
            .header("cookie", BAD_COOKIES)
            .expect(200, Contains("Olet kirjautunut ulos")),
        row("account name control characters", Resident, Method::POST, format!("{t}/account/name"))
            .form(format!("csrf={{csrf}}&name=Erkki{crlf}%07"))
            .expect(422, Contains("Nimessä voi olla enintään 200 merkkiä")),
        row("account name right-to-left override", Resident, Method::POST, format!("{t}/account/name"))
            .form("csrf={csrf}&name=Erkki%E2%80%AEikkrE")
            .expect(422, Contains("Nimessä voi olla enintään 200 merkkiä")),
        row("account name oversized", Resident, Method::POST, format!("{t}/account/name"))
            .form(format!("csrf={{csrf}}&name={big}"))
            .expect(413, Page("bad_request")),
        row("account password missing", Resident, Method::POST, format!("{t}/account/password"))
            .form("csrf={csrf}")
            .expect(422, Contains("")),
        row("account email IP literal", Resident, Method::POST, format!("{t}/account/email"))
            .form("csrf={csrf}&email=a%40%5B127.0.0.1%5D&password=x")
            .expect(422, Contains(EMAIL_INVALID)),
        row("account email dot-less domain", Resident, Method::POST, format!("{t}/account/email"))
            .form("csrf={csrf}&email=root%40relay&password=x")
            .expect(422, Contains(EMAIL_INVALID)),
        row("account legacy unknown", Resident, Method::POST, format!("{t}/account/legacy"))
            .form(format!("csrf={{csrf}}&account={ctl}"))
            .expect(400, Page("bad_request")),
        row("account legacy other control characters", Resident, Method::POST, format!("{t}/account/legacy/other"))
            .form(format!("csrf={{csrf}}&username={ctl}&password=x"))
            .expect(400, Page("bad_request")),
        row("account logout-everywhere without csrf", Resident, Method::POST, format!("{t}/account/logout-everywhere"))
            .form("")
            .expect(400, Page("csrf")),
        row("account unknown tenant", Resident, Method::GET, "/nowhere/account")
            .expect(404, Contains("Page not found")),
    ]
}

/// Posts `email` to the page `form` (`register` or `forgot`) of seinajoki.
async fn post_address(app: &TestApp, form: &str, email: &str) -> (u16, String) {
    let url = app.url(&format!("/seinajoki/{form}"));
    answer(rp::post_form(&app.browser(), &url, &url, &[("email", email)]).await).await
}

both_stores!(look_alike_addresses_are_the_same_account_and_mail_goes_to_the_stored_one);
async fn look_alike_addresses_are_the_same_account_and_mail_goes_to_the_stored_one(
    backend: Backend,
) {
    let app = TestApp::with_user(backend, "Erkki@Testi.fi", PASSWORD, "Erkki").await;

    // Full-width forms fold (NFKC) to the stored address: the account-exists mail, sent to the
    // address as stored, never as typed.
    let (status, page) = post_address(&app, "register", "ＥＲＫＫＩ＠ｔｅｓｔｉ．ｆｉ").await;
    assert_eq!(status, 200, "{page}");
    let mails = app.wait_for_mails(1).await;
    assert!(mails[0].contains("To: Erkki@Testi.fi"), "{}", mails[0]);
    assert!(!mails[0].contains("ＥＲＫＫＩ"), "{}", mails[0]);

    let (status, page) = post_address(&app, "forgot", "erkki@ＴＥＳＴＩ.fi").await;
    assert_eq!(status, 200, "{page}");
    let mails = app.wait_for_mails(2).await;
    assert!(mails[1].contains("To: Erkki@Testi.fi"), "{}", mails[1]);

    // A resident logs in with the look-alike form too.
    let client = rp::basic(&app).await;
    let started = rp::start(&client, &[], &[]);
    let browser = app.browser();
    let back = rp::log_in(&browser, &started.url, "ｅｒｋｋｉ@testi.fi", PASSWORD).await;
    assert!(param(&back, "code").is_some(), "{back}");

    // What lettre cannot send is refused on the form: 422 with the field's error, no mail.
    for refused in ["a@[127.0.0.1]", "\"a\\\"b\"@testi.fi"] {
        let (status, page) = post_address(&app, "register", refused).await;
        assert_eq!(status, 422, "{refused}");
        assert_has(&page, EMAIL_INVALID);
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(app.mails().len(), 2);
}

both_stores!(a_mail_lettre_cannot_address_is_given_up_at_once);
/// An outbox row whose recipient lettre refuses (written before the shared rule, or by any other
/// writer) fails once and is given up, not retried ten times.
async fn a_mail_lettre_cannot_address_is_given_up_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let now = app.now();
    let id = app
        .services
        .store
        .run(move |conn| {
            idp::mail::enqueue(
                conn,
                ("seinajoki", None),
                "reset_password",
                "a@[127.0.0.1]",
                &idp::mail::Rendered {
                    subject: "s".into(),
                    text: "t".into(),
                    html: "<p>h</p>".into(),
                },
                now,
            )
        })
        .await
        .unwrap();
    assert!(app.services.send_failed(&id).await, "the page is told");
    let row = app
        .services
        .store
        .run(move |conn| idp::store::outbox::find(conn, &id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (row.queue.status.as_str(), row.queue.attempts),
        ("failed", 1)
    );
    assert!(app.mails().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
/// A client that sends a request's head and then trickles its body (10 of the 100 bytes it
/// announced, then nothing) is answered 408 and the connection closed once the body's time is
/// over. Before, it held the connection (and a file descriptor) for as long as it liked: a
/// thousand such clients used up the process's descriptors.
async fn a_body_that_never_arrives_is_answered_408() {
    use std::io::{Read, Write};
    let app = TestApp::spawn(Backend::Sqlite).await;
    let address = app
        .url("")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        let head = "POST /seinajoki/token HTTP/1.1\r\nHost: idp\r\n\
                    Content-Type: application/x-www-form-urlencoded\r\n\
                    Content-Length: 100\r\n\r\ngrant_type";
        stream.write_all(head.as_bytes()).unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("the body did not arrive in time"),
        "{answer}"
    );
    app.stop().await;
}
