//! Rendering mails: a subject, a plain-text and an HTML part per kind, in the resident's language,
//! from templates compiled into the binary (`templates/mail/<kind>/`).

use fluent_templates::FluentLoader;

use crate::config::Language;
use crate::i18n::LOCALES;

/// A rendered mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Subject line.
    pub subject: String,
    /// Plain text.
    pub text: String,
    /// HTML.
    pub html: String,
}

/// The mail templates.
pub struct Mails {
    tera: tera::Tera,
}

/// The kinds of mail, each a folder of `subject.txt`, `body.txt`, `body.html`.
#[rustfmt::skip]
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/mail/base.html")),
    ("footer.txt", include_str!("../../templates/mail/footer.txt")),
    ("reset_password/subject.txt", include_str!("../../templates/mail/reset_password/subject.txt")),
    ("reset_password/body.txt", include_str!("../../templates/mail/reset_password/body.txt")),
    ("reset_password/body.html", include_str!("../../templates/mail/reset_password/body.html")),
    ("register/subject.txt", include_str!("../../templates/mail/register/subject.txt")),
    ("register/body.txt", include_str!("../../templates/mail/register/body.txt")),
    ("register/body.html", include_str!("../../templates/mail/register/body.html")),
    ("account_exists/subject.txt", include_str!("../../templates/mail/account_exists/subject.txt")),
    ("account_exists/body.txt", include_str!("../../templates/mail/account_exists/body.txt")),
    ("account_exists/body.html", include_str!("../../templates/mail/account_exists/body.html")),
    ("welcome/subject.txt", include_str!("../../templates/mail/welcome/subject.txt")),
    ("welcome/body.txt", include_str!("../../templates/mail/welcome/body.txt")),
    ("welcome/body.html", include_str!("../../templates/mail/welcome/body.html")),
    ("verify_email/subject.txt", include_str!("../../templates/mail/verify_email/subject.txt")),
    ("verify_email/body.txt", include_str!("../../templates/mail/verify_email/body.txt")),
    ("verify_email/body.html", include_str!("../../templates/mail/verify_email/body.html")),
    ("email_changed/subject.txt", include_str!("../../templates/mail/email_changed/subject.txt")),
    ("email_changed/body.txt", include_str!("../../templates/mail/email_changed/body.txt")),
    ("email_changed/body.html", include_str!("../../templates/mail/email_changed/body.html")),
    ("legacy_link/subject.txt", include_str!("../../templates/mail/legacy_link/subject.txt")),
    ("legacy_link/body.txt", include_str!("../../templates/mail/legacy_link/body.txt")),
    ("legacy_link/body.html", include_str!("../../templates/mail/legacy_link/body.html")),
    ("account_deleted/subject.txt", include_str!("../../templates/mail/account_deleted/subject.txt")),
    ("account_deleted/body.txt", include_str!("../../templates/mail/account_deleted/body.txt")),
    ("account_deleted/body.html", include_str!("../../templates/mail/account_deleted/body.html")),
    ("account_changed/subject.txt", include_str!("../../templates/mail/account_changed/subject.txt")),
    ("account_changed/body.txt", include_str!("../../templates/mail/account_changed/body.txt")),
    ("account_changed/body.html", include_str!("../../templates/mail/account_changed/body.html")),
];

impl Mails {
    /// Parses the built-in templates, each replaced by `<dir>/mail/<name>` when that exists.
    pub fn load(dir: Option<&std::path::Path>) -> Result<Mails, tera::Error> {
        let mut tera = tera::Tera::new();
        tera.register_function("t", FluentLoader::new(&*LOCALES));
        let sources = super::overrides::with_overrides(TEMPLATES, dir, "mail")
            .map_err(tera::Error::message)?;
        tera.add_raw_templates(sources.iter().map(|(n, s)| (n.as_str(), s.as_str())))?;
        Ok(Mails { tera })
    }

    /// Renders mail `kind` in `language` with `context` (to which `lang` is added).
    pub fn render(
        &self,
        kind: &str,
        language: Language,
        context: &tera::Context,
    ) -> Result<Rendered, tera::Error> {
        let mut context = context.clone();
        context.insert("lang", language.tag());
        let subject = self.tera.render(&format!("{kind}/subject.txt"), &context)?;
        Ok(Rendered {
            subject: subject.trim().to_string(),
            text: self.tera.render(&format!("{kind}/body.txt"), &context)?,
            html: self.tera.render(&format!("{kind}/body.html"), &context)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_mail_in_each_language() {
        let mails = Mails::load(None).unwrap();
        let mut context = tera::Context::new();
        context.insert("tenant_name", "Seinäjoen kaupunki");
        context.insert("link", "https://login.example.fi/seinajoki/reset?token=a&b");
        context.insert("minutes", &60);
        context.insert("support_email", "asiakaspalvelu@seinajoki.example");
        context.insert("support_phone", "06 416 2111");
        for (language, subject) in [
            (Language::Fi, "Salasanan asettaminen – Seinäjoen kaupunki"),
            (Language::Sv, "Ange lösenord – Seinäjoen kaupunki"),
            (Language::En, "Setting your password – Seinäjoen kaupunki"),
        ] {
            let mail = mails.render("reset_password", language, &context).unwrap();
            assert_eq!(mail.subject, subject);
            assert!(
                mail.text
                    .contains("https://login.example.fi/seinajoki/reset?token=a&b")
            );
            assert!(mail.text.contains("60"), "{}", mail.text);
            assert!(
                mail.html.contains(r#"href="https:&#x2F;&#x2F;login.example.fi&#x2F;seinajoki&#x2F;reset?token=a&amp;b""#)
                    || mail.html.contains(r#"href="https://login.example.fi/seinajoki/reset?token=a&amp;b""#),
                "{}",
                mail.html
            );
            assert!(
                mail.html
                    .contains(&format!("<html lang=\"{}\">", language.tag()))
            );
            assert!(mail.text.contains("06 416 2111"));
        }
    }

    #[test]
    fn the_notice_of_a_change_in_every_language() {
        let mails = Mails::load(None).unwrap();
        let mut context = tera::Context::new();
        context.insert("tenant_name", "Seinäjoen kaupunki");
        context.insert("link", "https://login.example.fi/seinajoki/forgot");
        context.insert("support_email", "asiakaspalvelu@seinajoki.example");
        for (language, subject, said) in [
            (
                Language::Fi,
                "Tiliäsi muutettiin – Seinäjoen kaupunki",
                [
                    "Salasanasi palvelussa Seinäjoen kaupunki vaihdettiin tilisivulla.",
                    "Tiliisi palvelussa Seinäjoen kaupunki lisättiin uusi pääsyavain.",
                    "Tilisi kertakäyttökoodi palvelussa Seinäjoen kaupunki otettiin käyttöön",
                    "Tilillesi palvelussa Seinäjoen kaupunki luotiin uudet varakoodit.",
                ],
            ),
            (
                Language::Sv,
                "Ditt konto har ändrats – Seinäjoen kaupunki",
                [
                    "Ditt lösenord i Seinäjoen kaupunki byttes på kontosidan.",
                    "En ny nyckel (passkey) lades till i ditt konto i Seinäjoen kaupunki.",
                    "Engångskoden för ditt konto i Seinäjoen kaupunki togs i bruk eller byttes",
                    "Nya reservkoder skapades för ditt konto i Seinäjoen kaupunki.",
                ],
            ),
            (
                Language::En,
                "Your account was changed – Seinäjoen kaupunki",
                [
                    "Your password at Seinäjoen kaupunki was changed on the account page.",
                    "A new passkey was added to your account at Seinäjoen kaupunki.",
                    "The one-time code of your account at Seinäjoen kaupunki was set up",
                    "New recovery codes were made for your account at Seinäjoen kaupunki.",
                ],
            ),
        ] {
            let changes = ["password", "passkey", "one_time_code", "recovery_codes"];
            for (change, said) in changes.into_iter().zip(said) {
                context.insert("change", change);
                let mail = mails.render("account_changed", language, &context).unwrap();
                assert_eq!(mail.subject, subject);
                assert!(mail.text.contains(said), "{}", mail.text);
                assert!(mail.html.contains(said), "{}", mail.html);
                assert!(
                    mail.text
                        .contains("https://login.example.fi/seinajoki/forgot")
                );
                assert!(mail.text.contains("asiakaspalvelu@seinajoki.example"));
            }
        }
    }

    #[test]
    fn the_linker_mail_names_each_old_username_with_its_link_in_every_language() {
        let mails = Mails::load(None).unwrap();
        let mut context = tera::Context::new();
        context.insert("tenant_name", "Kouvolan kaupunki");
        context.insert(
            "accounts",
            &serde_json::json!([
                {"username": "maija.m", "link": "https://login.example.fi/kouvola/reset?token=a"},
                {"username": "matti.m", "link": "https://login.example.fi/kouvola/reset?token=b"},
            ]),
        );
        context.insert("adding", &false);
        context.insert("minutes", &60);
        context.insert("support_email", "tuki@kouvola.example");
        context.insert("support_phone", &None::<String>);
        for (language, subject, username) in [
            (
                Language::Fi,
                "Aseta salasana – Kouvolan kaupunki",
                "Aiempi käyttäjätunnus: maija.m",
            ),
            (
                Language::Sv,
                "Ange lösenord – Kouvolan kaupunki",
                "Tidigare användarnamn: maija.m",
            ),
            (
                Language::En,
                "Set your password – Kouvolan kaupunki",
                "Former username: maija.m",
            ),
        ] {
            let mail = mails.render("legacy_link", language, &context).unwrap();
            assert_eq!(mail.subject, subject);
            assert!(mail.text.contains(username), "{}", mail.text);
            assert!(
                mail.text
                    .contains("https://login.example.fi/kouvola/reset?token=b")
            );
            assert!(mail.html.contains("matti.m"));
        }
    }
}
