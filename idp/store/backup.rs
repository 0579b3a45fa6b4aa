//! `idp backup`: a consistent copy of a SQLite database taken while the service runs.
//!
//! SQLite's `VACUUM INTO` writes the database as one read transaction sees it into a new file: in
//! WAL mode the service's readers and writer go on meanwhile, and the copy holds every committed
//! transaction up to the moment it started and none after. It is SQLite's documented alternative to
//! the C backup API (which diesel does not expose without `unsafe`), and it leaves a compact file.
//! The copy is written to a temporary file next to the target, checked (`PRAGMA integrity_check`),
//! synced, and renamed into place, so a target file is either absent or a whole, checked backup.
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
    if to.exists() {
        return Err(StoreError::Backup(format!(
            "{} exists already: name a new file",
            to.display()
        )));
    }
    let partial = partial_name(to);
    create_private_file(&partial)?;
    let written = copy_into(database, &partial).and_then(|()| check(&partial));
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
    std::fs::rename(&partial, to).map_err(|e| io(e, to))?;
    if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The rename itself survives a power cut only once the directory is synced.
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io(e, dir))?;
    }
    Ok(Copied {
        bytes,
        schema_version,
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
fn copy_into(database: &Path, into: &Path) -> Result<()> {
    let mut conn = SqliteConnection::establish(&database.to_string_lossy())?;
    conn.batch_execute(&format!(
        "PRAGMA busy_timeout = {};",
        BUSY_TIMEOUT.as_millis()
    ))?;
    let target = into.to_string_lossy().replace('\'', "''");
    diesel::sql_query(format!("VACUUM INTO '{target}'")).execute(&mut conn)?;
    Ok(())
}

/// The copy's integrity check, and its newest migration.
fn check(copy: &Path) -> Result<String> {
    let mut conn = SqliteConnection::establish(&copy.to_string_lossy())?;
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
