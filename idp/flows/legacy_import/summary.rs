//! The counts an import ends with: printed by the CLI, logged by `serve`, kept in the audit event.

use std::collections::BinaryHeap;
use std::fmt;

use super::batch::Disposition;
use super::row::ImportRow;
use crate::crypto::legacy::{self, LegacyFormat};

/// How many refused rows are listed (all are counted).
pub const LISTED_REJECTIONS: usize = 100;

/// What an import did, or would do in a dry run.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Nothing was written.
    pub dry_run: bool,
    /// Records read (not the header, not blank lines).
    pub rows_read: u64,
    /// New accounts.
    pub imported: u64,
    /// Unlinked accounts changed.
    pub updated: u64,
    /// Unlinked accounts that already held the row.
    pub unchanged: u64,
    /// Updated or unchanged accounts that kept the address support set (`idp legacy
    /// set-email`) instead of the row's: the export still gives the address it gave then.
    pub kept_addresses: u64,
    /// Linked accounts, which an import never changes.
    pub linked: u64,
    /// Rows refused.
    pub rejected: u64,
    /// Accepted rows without an address.
    pub without_email: u64,
    /// Addresses shared by several accounts: of the tenant after the import, or of the file's
    /// accepted rows in a dry run.
    pub shared_addresses: u64,
    /// Accounts having one of those addresses.
    pub shared_accounts: u64,
    /// Accepted rows per hash format, in [`legacy::ALL`] order.
    pub formats: [u64; legacy::ALL.len()],
    /// Accepted rows without a hash.
    pub no_hash: u64,
    /// Accepted rows with a hash of a format the verifier does not know.
    pub unknown_hash: u64,
    /// Accepted rows with a hash whose cost is over a cap (imported as unusable).
    pub over_cap: u64,
    /// Records whose username could not be read (a line the reader refused whole).
    pub unnamed: u64,
    /// Unbound old accounts of the tenant whose username the file does not hold (after the
    /// retirement, those left).
    pub not_in_file: u64,
    /// Unbound old accounts the file does not hold, deleted (`--retire-missing`).
    pub retired: u64,
    /// `--retire-missing` was asked but not done: some usernames could not be read.
    pub retire_refused: bool,
    /// The first [`LISTED_REJECTIONS`] refused rows by line (a max-heap, so the last is dropped).
    rejections: BinaryHeap<(u64, String)>,
}

impl Summary {
    /// An empty summary.
    pub fn new(dry_run: bool) -> Summary {
        Summary {
            dry_run,
            ..Summary::default()
        }
    }

    /// Counts a refused row.
    pub fn reject(&mut self, line: u64, reason: String) {
        self.rejected += 1;
        self.rejections.push((line, reason));
        if self.rejections.len() > LISTED_REJECTIONS {
            self.rejections.pop();
        }
    }

    /// Counts a row the database step decided on.
    pub fn count(&mut self, row: &ImportRow, disposition: Disposition) {
        match disposition {
            Disposition::Imported => self.imported += 1,
            Disposition::Updated { kept_address } => {
                self.updated += 1;
                self.kept_addresses += u64::from(kept_address);
            }
            Disposition::Unchanged { kept_address } => {
                self.unchanged += 1;
                self.kept_addresses += u64::from(kept_address);
            }
            Disposition::Linked => self.linked += 1,
            Disposition::Rejected(reason) => return self.reject(row.line, reason),
        }
        if row.email.is_none() {
            self.without_email += 1;
        }
        match (row.format, &row.password_hash) {
            (Some(format), _) => {
                if let Some(i) = legacy::ALL.iter().position(|f| *f == format) {
                    self.formats[i] += 1;
                }
            }
            (None, None) => self.no_hash += 1,
            (None, Some(_)) if row.over_cap.is_some() => self.over_cap += 1,
            (None, Some(_)) => self.unknown_hash += 1,
        }
    }

    /// Accepted rows whose hash is unusable (none, of an unknown format, or over a cost cap).
    pub fn unusable_hashes(&self) -> u64 {
        self.no_hash + self.unknown_hash + self.over_cap
    }

    /// The listed refused rows, by line.
    pub fn rejections(&self) -> Vec<(u64, String)> {
        self.rejections.clone().into_sorted_vec()
    }

    /// The formats with at least one row, in report order.
    pub fn formats(&self) -> impl Iterator<Item = (LegacyFormat, u64)> + '_ {
        legacy::ALL
            .into_iter()
            .zip(self.formats)
            .filter(|(_, n)| *n > 0)
    }

    /// The counts as JSON, for the audit event.
    pub fn to_json(&self) -> serde_json::Value {
        let formats: serde_json::Map<String, serde_json::Value> = self
            .formats()
            .map(|(format, n)| (format.name().to_string(), n.into()))
            .collect();
        serde_json::json!({
            "rows_read": self.rows_read,
            "imported": self.imported,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "support_addresses_kept": self.kept_addresses,
            "linked_left_alone": self.linked,
            "without_email": self.without_email,
            "shared_email_addresses": self.shared_addresses,
            "shared_email_accounts": self.shared_accounts,
            "hash_formats": formats,
            "unusable_hashes": self.unusable_hashes(),
            "hashes_over_cost_cap": self.over_cap,
            "rejected": self.rejected,
            "not_in_file": self.not_in_file,
            "retired": self.retired,
        })
    }
}

impl fmt::Display for Summary {
    /// One count a line, then the refused rows as `line N: reason`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.dry_run {
            writeln!(f, "dry run: nothing was written")?;
        }
        writeln!(f, "rows read: {}", self.rows_read)?;
        writeln!(f, "imported (new): {}", self.imported)?;
        writeln!(f, "updated: {}", self.updated)?;
        writeln!(f, "unchanged: {}", self.unchanged)?;
        if self.kept_addresses > 0 {
            writeln!(
                f,
                "support's addresses kept (legacy set-email): {}",
                self.kept_addresses
            )?;
        }
        writeln!(f, "linked accounts left alone: {}", self.linked)?;
        writeln!(f, "without email: {}", self.without_email)?;
        writeln!(
            f,
            "emails shared by several accounts: {} addresses, {} accounts",
            self.shared_addresses, self.shared_accounts
        )?;
        for (format, n) in self.formats() {
            writeln!(f, "hashes {}: {n}", format.name())?;
        }
        writeln!(
            f,
            "unusable hashes: {} ({} empty, {} of an unknown format, {} over a cost cap)",
            self.unusable_hashes(),
            self.no_hash,
            self.unknown_hash,
            self.over_cap
        )?;
        if self.retired > 0 {
            writeln!(f, "retired (not in this file): {}", self.retired)?;
        }
        if self.not_in_file > 0 {
            writeln!(
                f,
                "not in this file (unlinked): {} (--retire-missing deletes them)",
                self.not_in_file
            )?;
        }
        if self.retire_refused && self.unnamed > 0 {
            writeln!(
                f,
                "not retired: {} lines could not be read, and their usernames are unknown",
                self.unnamed
            )?;
        } else if self.retire_refused {
            writeln!(
                f,
                "not retired: the file leaves out more than half of the unlinked accounts (is it the old system's full export?)"
            )?;
        }
        writeln!(f, "rejected rows: {}", self.rejected)?;
        let listed = self.rejections();
        for (line, reason) in &listed {
            writeln!(f, "line {line}: {reason}")?;
        }
        let unlisted = self.rejected.saturating_sub(listed.len() as u64);
        if unlisted > 0 {
            writeln!(f, "… and {unlisted} more")?;
        }
        Ok(())
    }
}
