//! The transports: lettre's file transport (one `.eml` per mail) or SMTP.
//!
//! An SMTP attempt is bounded as a whole by `mail.timeout_seconds`: lettre's own timeout covers
//! only the TCP connect with tokio, and a relay that accepts the connection and then says nothing
//! (no greeting, no answer to a command or to the message) would hold the sender for ever — the
//! mail worker of the node, and the resident's page that tries its mail at once. Each attempt
//! opens a connection of its own and closes it (lettre's `pool` feature is off): a connection
//! left in the middle of a command by a given-up attempt is dropped, never used again.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{MailSettings, MailTransport as Kind, SmtpTls};
use crate::domain::with_ascii_domain;

/// Where mail goes.
#[derive(Clone)]
pub enum MailTransport {
    /// Files in a directory.
    File(AsyncFileTransport<Tokio1Executor>),
    /// An SMTP relay, and how long one attempt may take in all.
    Smtp(AsyncSmtpTransport<Tokio1Executor>, Duration),
}

impl std::fmt::Debug for MailTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MailTransport::File(_) => "MailTransport::File",
            MailTransport::Smtp(..) => "MailTransport::Smtp",
        })
    }
}

/// A mail could not be handed over: why, whether for good (the relay's permanent refusal, a
/// 5xx reply: trying again would only repeat it), and whether the relay itself failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TransportError(pub String, pub Permanence, pub Scope);

/// Whose failure it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The relay's: no answer (a timeout, a refused or dropped connection, TLS), or an answer
    /// that it cannot take any mail now (`421`, `454`) or will not take ours (`530`, `534`,
    /// `535`, `538`: authentication).
    Relay,
    /// This mail's: the relay answered about its recipient or its content (any other reply,
    /// such as `450` for a recipient domain it cannot resolve, or `550 5.7.1`), or idp could not
    /// build the message. Anyone can cause one with a bogus address; it says the relay works.
    Mail,
}

/// Whether a failure may pass if the mail is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permanence {
    /// A timeout, a refused connection, a 4xx reply: try again later.
    Transient,
    /// The relay refused the mail for good (a 5xx reply: no such mailbox, a policy).
    Permanent,
}

impl TransportError {
    /// A failure that may pass, of `scope`.
    fn transient(message: String, scope: Scope) -> Self {
        Self(message, Permanence::Transient, scope)
    }

    /// A transport that cannot be set up (the configuration's failure).
    fn setup(message: String) -> Self {
        Self::transient(message, Scope::Relay)
    }

    /// Whether the relay refused the mail for good.
    pub fn permanent(&self) -> bool {
        self.1 == Permanence::Permanent
    }

    /// Whether the relay itself failed ([`Scope::Relay`]), not this one mail.
    pub fn relay_failed(&self) -> bool {
        self.2 == Scope::Relay
    }

    /// The text for the node's log: the relay's reply with every word that holds an `@` (the
    /// recipient it quotes, `<liisa@example.fi>`, or the sender) replaced by `<address>`. The
    /// logs go to a log service the erasure cannot reach; the whole text stays in the outbox row
    /// (`last_error`), which goes with the mail.
    pub fn for_log(&self) -> String {
        without_addresses(&self.0)
    }
}

/// `text` with every whitespace-separated word that holds an `@` replaced by `<address>`.
fn without_addresses(text: &str) -> String {
    text.split_inclusive(char::is_whitespace)
        .map(|word| {
            let bare = word.trim_end_matches(char::is_whitespace);
            if bare.contains('@') {
                format!("<address>{}", &word[bare.len()..])
            } else {
                word.to_string()
            }
        })
        .collect()
}

/// Whether `to` can never be sent to: lettre refuses it as a recipient. Such a mail is given up
/// at once instead of being retried (an address idp accepts today always passes; this covers rows
/// written before the rule was shared, and any other writer of the outbox).
pub fn unsendable(to: &str) -> bool {
    with_ascii_domain(to).parse::<Mailbox>().is_err()
}

impl MailTransport {
    /// The transport `mail.*` configures (creating `mail.dir` for the file transport).
    pub fn from_settings(settings: &MailSettings) -> Result<MailTransport, TransportError> {
        match settings.transport {
            Kind::File => {
                let dir = settings
                    .dir
                    .clone()
                    .ok_or_else(|| TransportError::setup("mail.dir is not set".into()))?;
                std::fs::create_dir_all(&dir).map_err(|e| {
                    TransportError::setup(format!("cannot create {}: {e}", dir.display()))
                })?;
                // The mails hold live links: only the service's user may read them.
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).map_err(
                    |e| TransportError::setup(format!("cannot restrict {}: {e}", dir.display())),
                )?;
                Ok(MailTransport::File(AsyncFileTransport::new(dir)))
            }
            Kind::Smtp => {
                let host = settings.host.clone().unwrap_or_default();
                let builder = match settings.tls {
                    SmtpTls::Starttls => {
                        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&host)
                    }
                    SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&host),
                    SmtpTls::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
                        &host,
                    )),
                }
                .map_err(|e| TransportError::setup(e.to_string()))?;
                let attempt = Duration::from_secs(settings.timeout_seconds);
                let mut builder = builder.timeout(Some(attempt));
                if let Some(port) = settings.port {
                    builder = builder.port(port);
                }
                if let (Some(user), Some(var)) = (&settings.username, &settings.password_env) {
                    let password = std::env::var(var).map_err(|_| {
                        TransportError::setup(format!("the environment variable {var} is not set"))
                    })?;
                    builder = builder.credentials(Credentials::new(user.clone(), password));
                }
                Ok(MailTransport::Smtp(builder.build(), attempt))
            }
        }
    }

    /// Sends one mail; an SMTP attempt that takes longer than its bound is given up (an error,
    /// retried later as any other).
    pub async fn send(
        &self,
        from: &str,
        to: &str,
        subject: &str,
        text: &str,
        html: &str,
    ) -> Result<(), TransportError> {
        let error =
            |e: &dyn std::fmt::Display| TransportError::transient(e.to_string(), Scope::Mail);
        let from: Mailbox = from.parse().map_err(|e| error(&e))?;
        let to: Mailbox = with_ascii_domain(to).parse().map_err(|e| error(&e))?;
        let message = Message::builder()
            .from(from)
            .to(to)
            .subject(subject)
            .multipart(MultiPart::alternative_plain_html(
                text.to_string(),
                html.to_string(),
            ))
            .map_err(|e| error(&e))?;
        match self {
            MailTransport::File(t) => t.send(message).await.map(|_| ()).map_err(|e| {
                // The mail directory not writable: the "relay" of the file transport.
                TransportError::transient(e.to_string(), Scope::Relay)
            }),
            MailTransport::Smtp(t, attempt) => {
                match tokio::time::timeout(*attempt, t.send(message)).await {
                    Ok(sent) => sent.map(|_| ()).map_err(|e| {
                        let text = e.to_string();
                        let permanence = if e.is_permanent() && recipient_refused(&text) {
                            Permanence::Permanent
                        } else {
                            Permanence::Transient
                        };
                        let code = e.status().map(|code| code.to_string());
                        let scope = match code.as_deref() {
                            None => Scope::Relay,
                            Some(code) => scope_of_reply(code),
                        };
                        TransportError(text, permanence, scope)
                    }),
                    Err(_) => Err(TransportError::transient(
                        format!("the relay did not answer within {} s", attempt.as_secs()),
                        Scope::Relay,
                    )),
                }
            }
        }
    }
}

/// Whose failure a reply of the relay with the three-digit `code` is ([`Scope`]).
fn scope_of_reply(code: &str) -> Scope {
    match code {
        "421" | "454" | "530" | "534" | "535" | "538" => Scope::Relay,
        _ => Scope::Mail,
    }
}

/// Whether lettre's error `text` (`permanent error (550): 5.1.1 …`) is the relay refusing the
/// recipient's mailbox for good: a 550, 551 or 553 whose enhanced status (RFC 3463) says the
/// destination address is bad (`5.1.1` no such mailbox, `5.1.2` no such domain, `5.1.3` a bad
/// address, `5.1.6` moved, `5.1.10` a null MX). Any other 5xx — a refused login (535), a policy,
/// a quota, a sender the relay does not take — is the relay's or the configuration's, and passes
/// when that is put right: the mail is tried again.
fn recipient_refused(text: &str) -> bool {
    let Some(rest) = text.strip_prefix("permanent error (") else {
        return false;
    };
    let Some((code, message)) = rest.split_once("): ") else {
        return false;
    };
    let enhanced = message.split_whitespace().next().unwrap_or_default();
    matches!(code, "550" | "551" | "553")
        && matches!(enhanced, "5.1.1" | "5.1.2" | "5.1.3" | "5.1.6" | "5.1.10")
}

#[cfg(test)]
mod tests {
    use super::{Scope, recipient_refused, scope_of_reply, unsendable, without_addresses};

    #[test]
    fn the_logged_reply_names_no_address() {
        assert_eq!(
            without_addresses(
                "permanent error (550): 5.1.1 <Liisa@Example.fi>: Recipient address rejected:\nUser unknown (from idp@kunta.fi)"
            ),
            "permanent error (550): 5.1.1 <address> Recipient address rejected:\nUser unknown (from <address>"
        );
        assert_eq!(
            without_addresses("the relay did not answer within 15 s"),
            "the relay did not answer within 15 s"
        );
    }

    #[test]
    fn only_a_refused_recipient_is_given_up() {
        assert!(recipient_refused(
            "permanent error (550): 5.1.1 no such mailbox"
        ));
        assert!(recipient_refused(
            "permanent error (553): 5.1.3 bad address syntax"
        ));
        for passes in [
            "permanent error (535): 5.7.8 authentication failed",
            "permanent error (550): 5.7.1 relaying denied",
            "permanent error (554): 5.7.1 client host rejected",
            "permanent error (552): 5.3.4 message too big",
            "permanent error (550): 5.4.5 daily sending quota exceeded",
            "permanent error (553): 5.1.8 sender address rejected",
            "permanent error (550): mailbox unavailable",
            "transient error (450): 4.2.1 try again",
            "network error: connection refused",
        ] {
            assert!(!recipient_refused(passes), "{passes}");
        }
    }

    #[test]
    fn only_the_relays_own_replies_say_it_failed() {
        for relay in ["421", "454", "530", "534", "535", "538"] {
            assert_eq!(scope_of_reply(relay), Scope::Relay, "{relay}");
        }
        for mail in ["450", "451", "452", "550", "551", "552", "553", "554"] {
            assert_eq!(scope_of_reply(mail), Scope::Mail, "{mail}");
        }
    }

    #[test]
    fn what_lettre_refuses_is_unsendable() {
        assert!(!unsendable("erkki@testi.fi"));
        assert!(unsendable("a@[127.0.0.1]"));
        assert!(unsendable("\"a\\\"b\"@testi.fi"));
        assert!(unsendable("erkki@testi.fi\r\nBcc: x@y.fi"));
    }
}
