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

/// A mail could not be handed over: why, and whether for good (the relay's permanent refusal, a
/// 5xx reply: trying again would only repeat it).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TransportError(pub String, pub Permanence);

/// Whether a failure may pass if the mail is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permanence {
    /// A timeout, a refused connection, a 4xx reply: try again later.
    Transient,
    /// The relay refused the mail for good (a 5xx reply: no such mailbox, a policy).
    Permanent,
}

impl TransportError {
    /// A failure that may pass.
    fn transient(message: String) -> Self {
        Self(message, Permanence::Transient)
    }

    /// Whether the relay refused the mail for good.
    pub fn permanent(&self) -> bool {
        self.1 == Permanence::Permanent
    }
}

/// Whether `to` can never be sent to: lettre refuses it as a recipient. Such a mail is given up
/// at once instead of being retried (an address idp accepts today always passes; this covers rows
/// written before the rule was shared, and any other writer of the outbox).
pub fn unsendable(to: &str) -> bool {
    to.parse::<Mailbox>().is_err()
}

impl MailTransport {
    /// The transport `mail.*` configures (creating `mail.dir` for the file transport).
    pub fn from_settings(settings: &MailSettings) -> Result<MailTransport, TransportError> {
        match settings.transport {
            Kind::File => {
                let dir = settings
                    .dir
                    .clone()
                    .ok_or_else(|| TransportError::transient("mail.dir is not set".into()))?;
                std::fs::create_dir_all(&dir).map_err(|e| {
                    TransportError::transient(format!("cannot create {}: {e}", dir.display()))
                })?;
                // The mails hold live links: only the service's user may read them.
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).map_err(
                    |e| {
                        TransportError::transient(format!("cannot restrict {}: {e}", dir.display()))
                    },
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
                .map_err(|e| TransportError::transient(e.to_string()))?;
                let attempt = Duration::from_secs(settings.timeout_seconds);
                let mut builder = builder.timeout(Some(attempt));
                if let Some(port) = settings.port {
                    builder = builder.port(port);
                }
                if let (Some(user), Some(var)) = (&settings.username, &settings.password_env) {
                    let password = std::env::var(var).map_err(|_| {
                        TransportError::transient(format!(
                            "the environment variable {var} is not set"
                        ))
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
        let error = |e: &dyn std::fmt::Display| TransportError::transient(e.to_string());
        let from: Mailbox = from.parse().map_err(|e| error(&e))?;
        let to: Mailbox = to.parse().map_err(|e| error(&e))?;
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
            MailTransport::File(t) => t.send(message).await.map(|_| ()).map_err(|e| error(&e)),
            MailTransport::Smtp(t, attempt) => {
                match tokio::time::timeout(*attempt, t.send(message)).await {
                    Ok(sent) => sent.map(|_| ()).map_err(|e| {
                        let text = e.to_string();
                        let permanence = if e.is_permanent() && recipient_refused(&text) {
                            Permanence::Permanent
                        } else {
                            Permanence::Transient
                        };
                        TransportError(text, permanence)
                    }),
                    Err(_) => Err(TransportError::transient(format!(
                        "the relay did not answer within {} s",
                        attempt.as_secs()
                    ))),
                }
            }
        }
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
    use super::{recipient_refused, unsendable};

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
    fn what_lettre_refuses_is_unsendable() {
        assert!(!unsendable("erkki@testi.fi"));
        assert!(unsendable("a@[127.0.0.1]"));
        assert!(unsendable("\"a\\\"b\"@testi.fi"));
        assert!(unsendable("erkki@testi.fi\r\nBcc: x@y.fi"));
    }
}
