//! Tenant files: syntax errors, unknown and mistyped keys, the checks of clients, ids, colours and
//! mail limits, each problem named with its file and key.
#![expect(
    clippy::result_large_err,
    reason = "figment::Jail fixes the closure type"
)]

use super::jail::{assert_refused, jail_with, loaded, problems};
use crate::config::contrast_with_white;
use crate::config::testing::TENANT;

/// A Seinäjoki tenant file with `policy` and the `rest` of its lines.
fn seinajoki(policy: &str, rest: &str) -> String {
    format!("id = \"seinajoki\"\nname = \"Seinäjoen kaupunki\"\npolicy = \"{policy}\"\n{rest}")
}

#[test]
fn a_syntax_error_gives_line_and_column() {
    jail_with(TENANT, |jail| {
        jail.create_file("tenants/seinajoki.toml", "id = \"seinajoki\"\nname = \n")?;
        let found = problems("idp.toml");
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].starts_with("tenants/seinajoki.toml: line 2, column 8: "),
            "{found:#?}"
        );
        Ok(())
    });
}

#[test]
fn every_problem_of_a_broken_tenant_file_is_named() {
    let broken = seinajoki(
        "keep-passwords",
        r#"
languages = ["fi", "de"]
colour = "blue"

[support]
email = "not-an-address"

[[clients]]
client_id = "demo"
redirect_uris = ["https://rp.example.fi/callback"]
secret = "x"
"#,
    );
    assert_refused(
        &broken,
        &[
            "tenants/seinajoki.toml: policy: unknown variant `keep-passwords`, expected `keep-password` or `email-link`",
            "tenants/seinajoki.toml: languages[1]: unknown variant `de`, expected one of `fi`, `sv`, `en`",
            "tenants/seinajoki.toml: colour: unknown field `colour`, expected one of `id`, `name`, `policy`, `languages`, `help_url`, `reveal_unknown_identifier`, `support`, `notice`, `branding`, `sessions`, `passwords`, `legacy`, `mail_limits`, `privacy_url`, `time_zone`, `accessibility`, `audit`, `deletion`, `authority_second_factor`, `passkeys`, `acr`, `clients`",
            "tenants/seinajoki.toml: clients[0].secret: unknown field `secret`, expected one of `client_id`, `name`, `client_secret`, `client_secret_sha256`, `previous_client_secret_sha256`, `previous_secret_expires`, `redirect_uris`, `post_logout_redirect_uris`, `backchannel_logout_uri`, `grant_types`, `token_endpoint_auth_method`, `first_party`, `id_token_signed_response_alg`, `jwks_uri`, `assertion_audience`, `require_pkce`, `scopes`, `web_origins`, `onward_origins`",
        ],
    );
}

#[test]
fn semantic_problems_of_clients_are_all_named() {
    let broken = seinajoki(
        "email-link",
        r#"
[support]
email = "not-an-address"

[[clients]]
client_id = "a"
redirect_uris = ["http://rp.example.fi/callback", "/relative", "https://rp.example.fi/cb#frag", "http://[::1]:9/cb", "https://rp_x.example.fi/cb", "fi.seinajoki.App://Callback"]

[[clients]]
client_id = "a"
client_secret_sha256 = "abc"
token_endpoint_auth_method = "none"
grant_types = ["client_credentials"]
backchannel_logout_uri = "ftp://rp.example.fi/logout"
scopes = ["reports:read", "openid", "two words", ""]

[[clients]]
client_id = "b"
client_secret = ""
redirect_uris = ["https://rp.example.fi/callback"]
scopes = ["reports:read"]
assertion_audience = "issuer"

[[clients]]
client_id = "c"
client_secret_sha256 = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
redirect_uris = ["https://rp.example.fi/callback"]

[[clients]]
client_id = "_account"
client_secret = "s"
redirect_uris = ["https://rp.example.fi/callback"]
web_origins = ["https://rp.example.fi"]

[[clients]]
client_id = "spa"
token_endpoint_auth_method = "none"
redirect_uris = ["https://asiointi.example.fi/"]
web_origins = ["https://asiointi.example.fi", "https://Asiointi.example.fi/", "http://asiointi.example.fi", "*", "null", "https://asiointi.example.fi:443", "http://localhost:5173"]

[[clients]]
client_id = "rotating"
client_secret_sha256 = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
previous_client_secret_sha256 = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
redirect_uris = ["https://rp.example.fi/callback"]

[[clients]]
client_id = "plain"
client_secret = "s"
previous_client_secret_sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
previous_secret_expires = 2027-01-31T12:00:00+02:00
redirect_uris = ["https://rp.example.fi/callback"]

[[clients]]
client_id = "ended"
client_secret_sha256 = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
previous_secret_expires = "2027-01-31T12:00:00Z"
redirect_uris = ["https://rp.example.fi/callback"]
onward_origins = ["https://palvelu.example.fi", "http://[::1]:8080", "https://Palvelu.example.fi", "http://palvelu.example.fi", "https://*.example.fi", "https://a.fi;sandbox", "https://a.fi,b.fi"]
"#,
    );
    assert_refused(
        &broken,
        &[
            "tenants/seinajoki.toml: support.email: \"not-an-address\" is not a mail address",
            "tenants/seinajoki.toml: clients[0].client_secret: is required by this token_endpoint_auth_method (or give client_secret_sha256)",
            "tenants/seinajoki.toml: clients[0].redirect_uris[0]: \"http://rp.example.fi/callback\" must be https:// (http:// only for localhost)",
            "tenants/seinajoki.toml: clients[0].redirect_uris[1]: \"/relative\" is not an absolute URI: relative URL without a base",
            "tenants/seinajoki.toml: clients[0].redirect_uris[2]: \"https://rp.example.fi/cb#frag\" must not have a fragment",
            "tenants/seinajoki.toml: clients[0].redirect_uris[3]: \"http://[::1]:9/cb\" names an IPv6 address, which a Content-Security-Policy cannot name (browsers would block the redirect): use a host name, or http://127.0.0.1 for a native app",
            "tenants/seinajoki.toml: clients[0].redirect_uris[4]: \"https://rp_x.example.fi/cb\" has a host a Content-Security-Policy cannot name (only letters a–z, digits, '-' and '.'): browsers would block the redirect, or read the rest as another rule",
            "tenants/seinajoki.toml: clients[1].client_id: \"a\" is used by another client of this tenant",
            "tenants/seinajoki.toml: clients[1].client_secret_sha256: must be 64 hexadecimal digits (the SHA-256 of the secret)",
            "tenants/seinajoki.toml: clients[1].client_secret: must not be set for this token_endpoint_auth_method",
            "tenants/seinajoki.toml: clients[1].grant_types: client_credentials needs an authenticated client, not token_endpoint_auth_method = \"none\"",
            "tenants/seinajoki.toml: clients[1].scopes[1]: \"openid\" needs a resident; a client_credentials token has none",
            "tenants/seinajoki.toml: clients[1].scopes[2]: \"two words\" is not a scope: printable ASCII without spaces, quotes or backslashes",
            "tenants/seinajoki.toml: clients[1].scopes[3]: \"\" is not a scope: printable ASCII without spaces, quotes or backslashes",
            "tenants/seinajoki.toml: clients[1].backchannel_logout_uri: \"ftp://rp.example.fi/logout\" must be https:// (http:// only for localhost)",
            "tenants/seinajoki.toml: clients[2].client_secret: must not be empty",
            "tenants/seinajoki.toml: clients[2].assertion_audience: is for token_endpoint_auth_method = \"private_key_jwt\"",
            "tenants/seinajoki.toml: clients[2].scopes: is for client_credentials tokens, and this client may not use that grant",
            "tenants/seinajoki.toml: clients[3].client_secret_sha256: is the SHA-256 of empty text: anyone could authenticate as this client with an empty secret; give the SHA-256 of a secret of 32 random bytes or more (openssl rand -base64 32)",
            "tenants/seinajoki.toml: clients[4].client_id: must not begin with \"_\" (idp's own, such as the account page's \"_account\")",
            "tenants/seinajoki.toml: clients[4].web_origins: is for a public client (token_endpoint_auth_method = \"none\"): a page in the browser cannot keep a client's secret or key, so a confidential client calls the token endpoint from its server, which needs no CORS",
            "tenants/seinajoki.toml: clients[5].web_origins[1]: \"https://Asiointi.example.fi/\" is not written as a browser sends it: give \"https://asiointi.example.fi\" (no path, no default port, the host in lower case)",
            "tenants/seinajoki.toml: clients[5].web_origins[2]: \"http://asiointi.example.fi\" must be https:// (http:// only for localhost)",
            "tenants/seinajoki.toml: clients[5].web_origins[3]: \"*\" is not an origin (https://host[:port]): relative URL without a base",
            "tenants/seinajoki.toml: clients[5].web_origins[4]: \"null\" is not an origin (https://host[:port]): relative URL without a base",
            "tenants/seinajoki.toml: clients[5].web_origins[5]: \"https://asiointi.example.fi:443\" is not written as a browser sends it: give \"https://asiointi.example.fi\" (no path, no default port, the host in lower case)",
            "tenants/seinajoki.toml: clients[6].previous_secret_expires: is required with previous_client_secret_sha256: a rotation ends (the date and time after which the old secret is refused, \"2027-01-31T12:00:00+02:00\")",
            "tenants/seinajoki.toml: clients[6].previous_client_secret_sha256: is the current secret's hash: give the old secret's",
            "tenants/seinajoki.toml: clients[7].previous_client_secret_sha256: needs the new secret in client_secret_sha256 (a rotation of a hashed secret)",
            "tenants/seinajoki.toml: clients[7].previous_client_secret_sha256: is the SHA-256 of empty text: anyone could authenticate as this client with an empty secret",
            "tenants/seinajoki.toml: clients[8].previous_secret_expires: is for previous_client_secret_sha256",
            "tenants/seinajoki.toml: clients[8].onward_origins[1]: \"http://[::1]:8080\" names an IPv6 address, which a Content-Security-Policy cannot name (browsers would block the redirect): use a host name",
            "tenants/seinajoki.toml: clients[8].onward_origins[2]: \"https://Palvelu.example.fi\" is not written as a browser sends it: give \"https://palvelu.example.fi\" (no path, no default port, the host in lower case)",
            "tenants/seinajoki.toml: clients[8].onward_origins[3]: \"http://palvelu.example.fi\" must be https:// (http:// only for localhost)",
            "tenants/seinajoki.toml: clients[8].onward_origins[4]: \"https://*.example.fi\" has a host a Content-Security-Policy cannot name (only letters a–z, digits, '-' and '.'): browsers would block the redirect, or read the rest as another rule",
            "tenants/seinajoki.toml: clients[8].onward_origins[5]: \"https://a.fi;sandbox\" has a host a Content-Security-Policy cannot name (only letters a–z, digits, '-' and '.'): browsers would block the redirect, or read the rest as another rule",
            "tenants/seinajoki.toml: clients[8].onward_origins[6]: \"https://a.fi,b.fi\" has a host a Content-Security-Policy cannot name (only letters a–z, digits, '-' and '.'): browsers would block the redirect, or read the rest as another rule",
        ],
    );
}

#[test]
fn a_previous_secrets_expiry_is_a_date_and_time_with_its_offset() {
    let client = |expiry: &str| {
        format!(
            "{TENANT}\n[[clients]]\nclient_id = \"r\"\nclient_secret_sha256 = \"{}\"\n\
             previous_client_secret_sha256 = \"{}\"\nprevious_secret_expires = {expiry}\n\
             redirect_uris = [\"https://rp.example.fi/cb\"]\n",
            "a".repeat(64),
            "b".repeat(64)
        )
    };
    for (written, at) in [
        ("\"2027-01-31T12:00:00+02:00\"", "2027-01-31T10:00:00"),
        ("2027-01-31T12:00:00Z", "2027-01-31T12:00:00"),
    ] {
        jail_with(&client(written), |_| {
            let tenant = &loaded().tenants["seinajoki"];
            let expiry = tenant.client("r").unwrap().previous_secret_expires;
            assert_eq!(
                expiry.map(|e| e.0.to_string().replace(' ', "T")).as_deref(),
                Some(at)
            );
            Ok(())
        });
    }
    let far = format!(
        "tenants/seinajoki.toml: clients[{}].previous_secret_expires: is more than 180 days ahead: a rotation ends within weeks (a year mistyped?); a secret for longer is the client's only one",
        TENANT.matches("[[clients]]").count()
    );
    assert_refused(&client("2207-01-31T12:00:00Z"), &[far.as_str()]);
    for (written, shown) in [
        ("\"huomenna\"", "\"huomenna\""),
        ("2027-01-31T12:00:00", "\"2027-01-31T12:00:00\""),
    ] {
        // After the fixture's own clients.
        let index = TENANT.matches("[[clients]]").count();
        let expected = format!(
            "tenants/seinajoki.toml: clients[{index}].previous_secret_expires: {shown} is not a date and time with its offset (RFC 3339): write \"2027-01-31T12:00:00+02:00\""
        );
        assert_refused(&client(written), &[expected.as_str()]);
    }
}

#[test]
fn tenant_id_must_match_its_file_and_be_unique() {
    jail_with(TENANT, |jail| {
        jail.create_file("tenants/kouvola.toml", TENANT)?;
        jail.create_file(
            "tenants/Bad.toml",
            &TENANT.replace("\"seinajoki\"", "\"Bad\""),
        )?;
        assert_eq!(
            problems("idp.toml"),
            [
                "tenants/Bad.toml: id: \"Bad\" is not a tenant id: use 1–63 lowercase letters a–z, digits and '-'",
                "tenants/kouvola.toml: id: \"seinajoki\" differs from the file name: name the file seinajoki.toml",
                "tenants/seinajoki.toml: id: tenant id \"seinajoki\" is used by another file too",
            ]
        );
        Ok(())
    });
}

#[test]
fn a_brand_colour_must_contrast_with_white() {
    assert_refused(
        &format!("{TENANT}\n[branding]\ncolor = \"#7fb3d5\"\n"),
        &[
            "tenants/seinajoki.toml: branding.color: \"#7fb3d5\" contrasts 2.3:1 with white; WCAG AA needs 4.5:1",
        ],
    );
    assert!(contrast_with_white("#0b4f8a").unwrap() > 8.0);
    assert_eq!(contrast_with_white("blue"), None);
}

#[test]
fn mail_limits_default_and_are_checked() {
    jail_with(TENANT, |_| {
        let limits = &loaded().tenants["seinajoki"].mail_limits;
        assert_eq!(
            (
                limits.per_address,
                limits.per_address_minutes,
                limits.per_client_address,
                limits.per_client_address_minutes
            ),
            (3, 15, 20, 60)
        );
        Ok(())
    });
    assert_refused(
        &format!("{TENANT}\n[mail_limits]\nper_address = 0\nper_client_address_minutes = 1441\n"),
        &[
            "tenants/seinajoki.toml: mail_limits.per_address: must be between 1 and 10000",
            "tenants/seinajoki.toml: mail_limits.per_client_address_minutes: must be between 1 and 1440 minutes (a day)",
        ],
    );
}

#[test]
fn old_password_encodings_default_to_utf_8_and_are_checked() {
    use crate::config::PasswordEncoding::{Utf8, Windows1252};
    jail_with(TENANT, |_| {
        let legacy = &loaded().tenants["seinajoki"].legacy;
        assert_eq!(legacy.password_encodings, [Utf8]);
        Ok(())
    });
    let with = |list: &str| format!("{TENANT}\n[legacy]\npassword_encodings = {list}\n");
    jail_with(&with(r#"["utf-8", "iso-8859-1"]"#), |_| {
        let legacy = &loaded().tenants["seinajoki"].legacy;
        assert_eq!(legacy.password_encodings, [Utf8, Windows1252]);
        Ok(())
    });
    assert_refused(
        &with("[]"),
        &[
            "tenants/seinajoki.toml: legacy.password_encodings: must name at least one encoding: \"utf-8\", \"windows-1252\" (or \"iso-8859-1\"), \"iso-8859-15\"",
        ],
    );
    assert_refused(
        &with(r#"["windows-1252", "utf-8", "iso-8859-1"]"#),
        &[
            "tenants/seinajoki.toml: legacy.password_encodings: names an encoding twice: each costs a hash of every old password checked",
        ],
    );
    assert_refused(
        &with(r#"["latin-9"]"#),
        &[
            "tenants/seinajoki.toml: legacy.password_encodings[0]: unknown variant `latin-9`, expected one of `utf-8`, `iso-8859-1`, `windows-1252`, `iso-8859-15`",
        ],
    );
}

#[test]
fn second_factors_default_and_are_checked() {
    jail_with(TENANT, |_| {
        let tenant = &loaded().tenants["seinajoki"];
        assert_eq!(
            tenant.authority_second_factor,
            crate::config::SecondFactorPolicy::Required
        );
        assert!(tenant.passkeys.enabled);
        assert_eq!(tenant.passkeys.offer_again_days, 30);
        assert_eq!(
            (tenant.acr.password.as_str(), tenant.acr.mfa.as_str()),
            ("urn:idp:acr:password", "urn:idp:acr:mfa")
        );
        Ok(())
    });
    assert_refused(
        &format!(
            "authority_second_factor = \"sometimes\"\n{TENANT}\n[passkeys]\noffer_again_days = 0\n"
        ),
        &[
            "tenants/seinajoki.toml: authority_second_factor: unknown variant `sometimes`, expected one of `required`, `optional`, `off`",
        ],
    );
    assert_refused(
        &format!(
            "{TENANT}\n[passkeys]\noffer_again_days = 0\n[acr]\npassword = \"low level\"\nmfa = \"\"\n"
        ),
        &[
            "tenants/seinajoki.toml: acr.password: \"low level\" must be printable ASCII without spaces (acr_values separates by spaces)",
            "tenants/seinajoki.toml: acr.mfa: must not be empty",
            "tenants/seinajoki.toml: passkeys.offer_again_days: must be between 1 and 365 days",
        ],
    );
    assert_refused(
        &format!("{TENANT}\n[acr]\npassword = \"urn:x\"\nmfa = \"urn:x\"\n"),
        &[
            "tenants/seinajoki.toml: acr.mfa: must differ from acr.password: an e-service asks for a level by its value",
        ],
    );
}

#[test]
fn what_a_tenant_publishes_is_checked() {
    jail_with(TENANT, |_| {
        let statement = &loaded().tenants["seinajoki"].accessibility;
        assert_eq!(statement.compliance, crate::config::Compliance::Partial);
        assert_eq!(statement.answer_days, 14);
        Ok(())
    });
    assert_refused(
        &format!(
            "{}\n[accessibility]\nanswer_days = 30\nfeedback_email = \"ei osoite\"\n",
            TENANT.replace("https://www.example.fi/", "ftp://example.fi/")
        ),
        &[
            "tenants/seinajoki.toml: privacy_url: must be an http:// or https:// URL",
            "tenants/seinajoki.toml: accessibility.feedback_email: \"ei osoite\" is not a mail address",
            "tenants/seinajoki.toml: accessibility.answer_days: must be between 1 and 14 (Act 306/2019 gives 14 days at the most)",
        ],
    );
    assert_refused(
        &format!("{TENANT}\n[audit]\nretention_days = 7\n"),
        &["tenants/seinajoki.toml: audit.retention_days: must be between 30 and 3650 days"],
    );
    assert_refused(
        &format!("{TENANT}\n[deletion]\nundo_days = 0\n"),
        &["tenants/seinajoki.toml: deletion.undo_days: must be between 1 and 90 days"],
    );
    assert_refused(
        &format!("{TENANT}\n[deletion]\nundo_days = 91\n"),
        &["tenants/seinajoki.toml: deletion.undo_days: must be between 1 and 90 days"],
    );
    assert_refused(
        &format!("{TENANT}\n[accessibility]\ncompliance = \"mostly\"\n"),
        &[
            "tenants/seinajoki.toml: accessibility.compliance: unknown variant `mostly`, expected one of `full`, `partial`, `none`",
        ],
    );
}

#[test]
fn a_time_zone_is_an_iana_name() {
    assert_refused(
        &format!("time_zone = \"Europe/Tampere\"\n{TENANT}"),
        &["tenants/seinajoki.toml: time_zone: failed to parse timezone: 'Europe/Tampere'"],
    );
}
