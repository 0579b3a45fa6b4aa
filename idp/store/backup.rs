//! `idp backup`: a consistent copy of a SQLite database taken while the service runs.
//!
//! SQLite's `VACUUM INTO` writes the database as one read transaction sees it into a new file: in
//! WAL mode the service's readers and writer go on meanwhile, and the copy holds every committed
//! transaction up to the moment it started and none after. It is SQLite's documented alternative to
//! the C backup API (which diesel does not expose without `unsafe`), and it leaves a compact file.
//! The copy is written to a temporary file next to the target, checked (`PRAGMA integrity_check`),
//! synced, and linked into place (a link, unlike a rename, never replaces a file that appeared
//! meanwhile), so a target file is either absent or a whole, checked backup. SQLite names files in
//! UTF-8: a target whose name is not is refused before any file is made.
//! It holds password hashes and encrypted keys: it is readable by its owner only, like the database.

use std::path::{Path, PathBuf};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel::sqlite::SqliteConnection;

use super::error::StoreError;
use super::transaction::BUSY_TIMEOUT;
use super::{Result, create_private_file};

/// A backup written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// Its size in bytes.
    pub bytes: u64,
    /// The newest migration applied in it (`20261207000003`).
    pub schema_version: String,
}

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

/// Copies the SQLite database at `database` into the new file `to` (which must not exist).
pub fn sqlite(database: &Path, to: &Path) -> Result<Copied> {
    let io = |source: std::io::Error, at: &Path| StoreError::Io {
        path: at.display().to_string(),
        source,
    };
    if !database.is_file() {
        return Err(StoreError::Backup(format!(
            "the database {} is not a file",
            database.display()
        )));
    }
    let exists = || StoreError::Backup(format!("{} exists already: name a new file", to.display()));
    if to.exists() {
        return Err(exists());
    }
    // SQLite names files in UTF-8: it would write a copy named otherwise to another file.
    utf8(to)?;
    let partial = partial_name(to);
    let (source, copy) = (utf8(database)?, utf8(&partial)?);
    create_private_file(&partial)?;
    let written = copy_into(source, copy).and_then(|()| check(copy));
    let schema_version = match written {
        Ok(version) => version,
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            return Err(error);
        }
    };
    let file = std::fs::File::open(&partial).map_err(|e| io(e, &partial))?;
    file.sync_all().map_err(|e| io(e, &partial))?;
    let bytes = file.metadata().map_err(|e| io(e, &partial))?.len();
    put_in_place(&partial, to).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => exists(),
        _ => io(e, to),
    })?;
    if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The new name survives a power cut only once the directory is synced.
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io(e, dir))?;
    }
    Ok(Copied {
        bytes,
        schema_version,
    })
}

/// Gives the file `partial` the name `to` unless a file of that name appeared meanwhile (a link
/// is never made over an existing name, as a rename would be), then removes the name `partial`;
/// `partial` is removed whether the link was made or not.
fn put_in_place(partial: &Path, to: &Path) -> std::io::Result<()> {
    let linked = std::fs::hard_link(partial, to);
    let removed = std::fs::remove_file(partial);
    linked.and(removed)
}

/// `path` as UTF-8, or the refusal of a name SQLite cannot open.
fn utf8(path: &Path) -> Result<&str> {
    path.to_str().ok_or_else(|| {
        StoreError::Backup(format!(
            "{} is not a UTF-8 file name, and SQLite names files in UTF-8",
            path.display()
        ))
    })
}

/// `to` with `.partial-<random>` appended: the temporary file beside it.
fn partial_name(to: &Path) -> PathBuf {
    let suffix = crate::crypto::secret::random_token();
    let mut name = to.as_os_str().to_owned();
    name.push(format!(".partial-{}", &suffix[..8]));
    PathBuf::from(name)
}

/// `VACUUM INTO` the (empty) file `into`, waiting for the writer's lock as the service does.
fn copy_into(database: &str, into: &str) -> Result<()> {
    let mut conn = SqliteConnection::establish(database)?;
    conn.batch_execute(&format!(
        "PRAGMA busy_timeout = {};",
        BUSY_TIMEOUT.as_millis()
    ))?;
    let target = into.replace('\'', "''");
    diesel::sql_query(format!("VACUUM INTO '{target}'")).execute(&mut conn)?;
    Ok(())
}

/// The copy's integrity check, and its newest migration.
fn check(copy: &str) -> Result<String> {
    let mut conn = SqliteConnection::establish(copy)?;
    let verdict: Vec<Line> =
        diesel::sql_query("SELECT integrity_check AS line FROM pragma_integrity_check")
            .load(&mut conn)?;
    let lines: Vec<&str> = verdict.iter().map(|l| l.line.as_str()).collect();
    if lines != ["ok"] {
        return Err(StoreError::Backup(format!(
            "the copy failed its integrity check: {}",
            lines.join("; ")
        )));
    }
    let newest: Line = diesel::sql_query(
        "SELECT COALESCE(MAX(version), '') AS line FROM __diesel_schema_migrations",
    )
    .get_result(&mut conn)?;
    Ok(newest.line)
}

#[cfg(test)]
mod tests {
    use super::put_in_place;

    #[test]
    fn the_copy_never_replaces_a_file_that_appeared_meanwhile() {
        let dir = tempfile::tempdir().unwrap();
        let (partial, to) = (dir.path().join("b.partial-1"), dir.path().join("b"));
        std::fs::write(&partial, "the copy").unwrap();
        std::fs::write(&to, "appeared meanwhile").unwrap();
        let refused = put_in_place(&partial, &to).unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read_to_string(&to).unwrap(), "appeared meanwhile");
        assert!(!partial.exists());

        std::fs::remove_file(&to).unwrap();
        std::fs::write(&partial, "the copy").unwrap();
        put_in_place(&partial, &to).unwrap();
        assert_eq!(std::fs::read_to_string(&to).unwrap(), "the copy");
        assert!(!partial.exists());
    }
}
