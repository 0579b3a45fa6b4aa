//! The mail the server under test wrote: the file transport's `.eml` files, decoded, and the
//! links in them.

use std::path::Path;

use super::TestApp;

/// Undoes quoted-printable soft line breaks and escapes (enough to read links in mails).
pub fn decode_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mails in `dir` (the file transport's `.eml` files, complete ones only), oldest first,
/// decoded to text.
pub fn read_mails(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut mails: Vec<(std::time::SystemTime, String)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .filter_map(|e| {
            let modified = e.metadata().ok()?.modified().ok()?;
            let text = std::fs::read_to_string(e.path()).ok()?;
            // A mail being written is not there yet: every mail of ours ends with the
            // closing boundary of its multipart body.
            text.trim_end()
                .ends_with("--")
                .then(|| (modified, decode_quoted_printable(&text)))
        })
        .collect();
    mails.sort_by_key(|(t, _)| *t);
    mails.into_iter().map(|(_, m)| m).collect()
}

/// The first word of `mail` that starts with `prefix` (a link), if any.
pub fn find_link(mail: &str, prefix: &str) -> Option<String> {
    mail.split_whitespace()
        .find(|w| w.starts_with(prefix))
        .map(str::to_string)
}

impl TestApp {
    /// The mails written to `address`, oldest first.
    pub fn mails_to(&self, address: &str) -> Vec<String> {
        self.mails()
            .into_iter()
            .filter(|m| m.contains(&format!("To: {address}")))
            .collect()
    }

    /// The mails once there are at least `count`, waiting up to five seconds for the outbox's
    /// worker.
    pub async fn wait_for_mails(&self, count: usize) -> Vec<String> {
        for _ in 0..100 {
            let mails = self.mails();
            if mails.len() >= count {
                return mails;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("{count} mails expected: {:?}", self.mails());
    }

    /// The `count`th mail and its first link starting with `path` (`/{tenant}/reset?token=`…),
    /// waiting for the mail as [`TestApp::wait_for_mails`] does.
    pub async fn mailed_link(&self, count: usize, path: &str) -> (String, String) {
        let mail = self.wait_for_mails(count).await.swap_remove(count - 1);
        let link = self
            .link_in(&mail, path)
            .unwrap_or_else(|| panic!("no {path} link: {mail}"));
        (mail, link)
    }

    /// The first link in `mail` starting with `path` (`/{tenant}/reset?token=`…).
    pub fn link_in(&self, mail: &str, path: &str) -> Option<String> {
        find_link(mail, &self.url(path))
    }

    /// The links starting with `path` (`/{tenant}/reset?token=`…) in the mails, oldest first.
    pub fn links(&self, path: &str) -> Vec<String> {
        let mails = self.mails();
        mails.iter().filter_map(|m| self.link_in(m, path)).collect()
    }

    /// The link starting with `path` that follows the `known` ones already mailed (whatever other
    /// mails come between), waiting up to five seconds for the outbox's worker.
    pub async fn next_link(&self, path: &str, known: usize) -> String {
        for _ in 0..100 {
            if let Some(link) = self.links(path).into_iter().nth(known) {
                return link;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("no new {path} link after {known}: {:?}", self.mails())
    }

    /// The newest link starting with `path` (`/{tenant}/reset?token=`…) in the mails (to `to`,
    /// when given), waiting up to five seconds for the outbox's worker.
    pub async fn newest_link(&self, to: Option<&str>, path: &str) -> String {
        for _ in 0..100 {
            let found = self
                .mails()
                .iter()
                .rev()
                .filter(|mail| to.is_none_or(|to| mail.contains(&format!("To: {to}"))))
                .find_map(|mail| self.link_in(mail, path));
            if let Some(link) = found {
                return link;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("no {path} link to {to:?}: {:?}", self.mails())
    }
}
