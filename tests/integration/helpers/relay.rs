//! An SMTP relay on 127.0.0.1 for the tests, without TLS. It starts stalled, in one of two ways:
//! [`Relay::silent`] accepts each connection and never says a word (no greeting), and
//! [`Relay::mute_after_the_message`] goes through the whole exchange and then never confirms the
//! message, nor answers anything after it. Either way a sender waits for ever unless it gives up.
//! Once told to [`Relay::answer`], it speaks SMTP to the connections that come after and keeps
//! every message it confirms.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The relay; stopped when dropped.
pub struct Relay {
    /// Its port on 127.0.0.1.
    pub port: u16,
    stop: Arc<AtomicBool>,
    answering: Arc<AtomicBool>,
    received: Arc<Mutex<Vec<String>>>,
}

/// Where a stalled relay stops answering (or, `Recipient`, what it refuses from the start).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stall {
    /// Before its greeting.
    Greeting,
    /// After the message, before it confirms it.
    Message,
    /// Never: it answers at once, and refuses every recipient for good (`550 5.1.1`, a mailbox
    /// that does not exist), quoting the address as Postfix does.
    Recipient,
    /// Never: it answers at once, and refuses the recipients of one domain for now (`450 4.1.2`,
    /// a domain it cannot resolve), taking every other mail.
    Domain(&'static str),
}

impl Relay {
    /// A relay that accepts connections and never answers.
    pub fn silent() -> Relay {
        Relay::start(Stall::Greeting)
    }

    /// A relay that takes each message and never confirms it, nor answers anything after it.
    pub fn mute_after_the_message() -> Relay {
        Relay::start(Stall::Message)
    }

    /// A relay that answers at once and refuses every recipient for good.
    pub fn refusing_recipients() -> Relay {
        let relay = Relay::start(Stall::Recipient);
        relay.answer();
        relay
    }

    /// A relay that answers at once, cannot resolve the recipient domain `domain` (`450`), and
    /// takes every other mail.
    pub fn refusing_domain(domain: &'static str) -> Relay {
        let relay = Relay::start(Stall::Domain(domain));
        relay.answer();
        relay
    }

    fn start(stall: Stall) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let relay = Relay {
            port,
            stop: Arc::default(),
            answering: Arc::default(),
            received: Arc::default(),
        };
        let (stop, answering) = (relay.stop.clone(), relay.answering.clone());
        let received = relay.received.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _))
                        if stall == Stall::Greeting && !answering.load(Ordering::Relaxed) =>
                    {
                        held.push(stream);
                    }
                    Ok((stream, _)) => {
                        stream.set_nonblocking(false).unwrap();
                        let mute = !answering.load(Ordering::Relaxed);
                        let received = received.clone();
                        let refuse = match stall {
                            Stall::Recipient => Some((
                                "",
                                "550 5.1.1 {rcpt}: Recipient address rejected: no such mailbox",
                            )),
                            Stall::Domain(domain) => Some((
                                domain,
                                "450 4.1.2 Recipient address rejected: Domain not found",
                            )),
                            _ => None,
                        };
                        std::thread::spawn(move || converse(stream, (mute, refuse), &received));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        relay
    }

    /// From now on, new connections are answered: every mail is taken.
    pub fn answer(&self) {
        self.answering.store(true, Ordering::Relaxed);
    }

    /// The messages confirmed so far (headers and body, as sent), oldest first.
    pub fn received(&self) -> Vec<String> {
        self.received.lock().unwrap().clone()
    }

    /// The `[mail]` section of a test server that sends through this relay, each attempt given
    /// up after `timeout_seconds`.
    pub fn mail_toml(&self, timeout_seconds: u64) -> String {
        format!(
            "[mail]\ntransport = \"smtp\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\n\
             timeout_seconds = {timeout_seconds}\nfrom = \"idp <no-reply@idp.localhost>\"",
            self.port
        )
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// One SMTP session (RFC 5321, what lettre says): a greeting, then `250` to every command but
/// `DATA`, whose message (up to the line `.`) is confirmed and kept, and `QUIT`. `mute`: the
/// message is neither confirmed nor kept, and nothing after it answered, until the sender closes
/// the connection. `refuse`: `(domain, reply)`, every `RCPT` whose address holds `domain` (all,
/// when empty) is answered `reply`, its `{rcpt}` the address the command names (`<…>`). At most
/// 1,000 lines.
fn converse(
    stream: TcpStream,
    (mute, refuse): (bool, Option<(&str, &str)>),
    received: &Mutex<Vec<String>>,
) {
    let mut out = stream.try_clone().unwrap();
    let mut lines = BufReader::new(stream).lines().take(1000);
    let mut say = |text: &str| out.write_all(format!("{text}\r\n").as_bytes()).is_ok();
    say("220 relay.test ESMTP");
    while let Some(Ok(line)) = lines.next() {
        let command = line.to_ascii_uppercase();
        if command.starts_with("DATA") {
            say("354 go ahead");
            let message: Vec<String> = lines
                .by_ref()
                .map_while(Result::ok)
                .take_while(|line| line != ".")
                .collect();
            if mute {
                // Read on, answering nothing, until the sender hangs up.
                lines.by_ref().for_each(drop);
                return;
            }
            received.lock().unwrap().push(message.join("\n"));
            say("250 taken");
        } else if let Some((_, reply)) = refuse.filter(|(domain, _)| {
            command.starts_with("RCPT") && line.to_ascii_lowercase().contains(domain)
        }) {
            let rcpt = line.split_once(':').map_or("", |(_, to)| to.trim());
            say(&reply.replace("{rcpt}", rcpt));
        } else if command.starts_with("QUIT") {
            say("221 bye");
            return;
        } else if !say("250 relay.test") {
            return;
        }
    }
}
