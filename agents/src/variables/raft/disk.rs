//! One node's Raft log, vote, commit point and latest snapshot on disk:
//! one redb database, `variables.redb` in the node's data dir.
//!
//! Each change is one redb write transaction, on disk when it commits
//! (redb syncs the file). The commit point too: openraft saves it before
//! it applies (and so acknowledges) an entry, and a leader that restarts
//! in its term serves linearizable reads from it; were it behind, such a
//! read could miss an acknowledged write.
//!
//! redb is synchronous; the store calls these methods on tokio's
//! blocking pool ([`store`](super::store)).

use std::error::Error;
use std::fmt;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{PoisonError, RwLock};

use openraft::{AnyError, Entry, LogId, SnapshotMeta, Vote};
use redb::{
    Database, DatabaseError, Durability, ReadTransaction, ReadableTable, TableDefinition,
    WriteTransaction,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{Member, TypeConfig};
use crate::variables::VariableError;

/// The database file in the data dir.
pub(crate) const FILE: &str = "variables.redb";

/// The log entries by index, each in MessagePack.
const LOG: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("log");
/// Everything else, by the keys below.
const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("meta");
/// The name of the node the data dir belongs to (text).
const NODE: &str = "node";
/// The vote (MessagePack).
const VOTE: &str = "vote";
/// The last committed log id (MessagePack).
const COMMITTED: &str = "committed";
/// The last purged log id (MessagePack).
const PURGED: &str = "purged";
/// The latest snapshot's metadata (MessagePack) and its data (as is).
const SNAPSHOT_META: &str = "snapshot-meta";
const SNAPSHOT_DATA: &str = "snapshot-data";

/// A saved snapshot: its metadata and its data.
pub(crate) type SavedSnapshot = (SnapshotMeta<u64, Member>, Vec<u8>);

/// What the steps inside one method can fail with, before the method
/// names the file.
type Failure = Box<dyn Error + Send + Sync>;

/// The store of one node, in its data dir.
pub(crate) struct Disk {
    /// The database; `None` once closed.
    db: RwLock<Option<Database>>,
    /// The database file, to name it in errors.
    path: PathBuf,
}

impl fmt::Debug for Disk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Disk").field("path", &self.path).finish()
    }
}

impl Disk {
    /// Opens the store of node `node` in `dir`, creating the dir and the
    /// store if missing.
    ///
    /// # Errors
    /// [`VariableError::Unavailable`] naming the path: the dir cannot be
    /// created, the file cannot be opened (permission denied, not a redb
    /// file, corrupt, in use by another node or process), or the store
    /// belongs to another node.
    pub(crate) fn open(dir: &Path, node: &str) -> Result<Self, VariableError> {
        let unavailable = |path: &Path, why: String| VariableError::Unavailable {
            reason: format!("variables data at {}: {why}", path.display()),
        };
        std::fs::create_dir_all(dir)
            .map_err(|e| unavailable(dir, format!("cannot create the directory: {e}")))?;
        let path = dir.join(FILE);
        let db = Database::create(&path).map_err(|e| match e {
            DatabaseError::DatabaseAlreadyOpen => unavailable(
                &path,
                "in use by another node or process (each node needs a data dir of its own)".into(),
            ),
            e => unavailable(&path, format!("cannot open it: {e}")),
        })?;
        let disk = Self {
            db: RwLock::new(Some(db)),
            path,
        };
        let owner = disk
            .claim(node)
            .map_err(|e| unavailable(&disk.path, format!("cannot read or write it: {e}")))?;
        if owner != node {
            return Err(unavailable(
                &disk.path,
                format!("it belongs to node `{owner}`, not `{node}`"),
            ));
        }
        Ok(disk)
    }

    /// The database file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Creates the tables, and records `node` as the owner unless one is
    /// recorded; answers the owner.
    fn claim(&self, node: &str) -> Result<String, AnyError> {
        self.write(Durability::Immediate, |txn| {
            txn.open_table(LOG)?;
            let mut meta = txn.open_table(META)?;
            let recorded = meta
                .get(NODE)?
                .map(|v| String::from_utf8_lossy(v.value()).into_owned());
            Ok(match recorded {
                Some(owner) => owner,
                None => {
                    meta.insert(NODE, node.as_bytes())?;
                    node.to_owned()
                }
            })
        })
    }

    /// Closes the database, once the reads and writes under way are done,
    /// so that the data dir can be opened again; whatever is asked of it
    /// afterwards fails.
    pub(crate) fn close(&self) {
        let mut db = self.db.write().unwrap_or_else(PoisonError::into_inner);
        db.take();
    }

    /// The log entries in `range`, in order.
    pub(crate) fn entries(
        &self,
        range: (Bound<u64>, Bound<u64>),
    ) -> Result<Vec<Entry<TypeConfig>>, AnyError> {
        self.read(|txn| {
            let log = txn.open_table(LOG)?;
            let mut entries = Vec::new();
            for item in log.range::<u64>(range)? {
                let (_, bytes) = item?;
                entries.push(rmp_serde::from_slice(bytes.value())?);
            }
            Ok(entries)
        })
    }

    /// The id of the last entry in the log, if any.
    pub(crate) fn last_log_id(&self) -> Result<Option<LogId<u64>>, AnyError> {
        self.read(|txn| {
            let log = txn.open_table(LOG)?;
            let Some((_, bytes)) = log.last()? else {
                return Ok(None);
            };
            let entry: Entry<TypeConfig> = rmp_serde::from_slice(bytes.value())?;
            Ok(Some(entry.log_id))
        })
    }

    /// Appends (or overwrites) `entries`, on disk when it returns.
    pub(crate) fn append(&self, entries: &[Entry<TypeConfig>]) -> Result<(), AnyError> {
        self.write(Durability::Immediate, |txn| {
            let mut log = txn.open_table(LOG)?;
            for entry in entries {
                log.insert(
                    entry.log_id.index,
                    rmp_serde::to_vec_named(entry)?.as_slice(),
                )?;
            }
            Ok(())
        })
    }

    /// Removes the entries from index `from` on.
    pub(crate) fn truncate(&self, from: u64) -> Result<(), AnyError> {
        self.write(Durability::Immediate, |txn| {
            txn.open_table(LOG)?.retain_in(from.., |_, _| false)?;
            Ok(())
        })
    }

    /// Removes the entries up to `upto` (inclusive) and records it as the
    /// last purged log id, in one transaction.
    pub(crate) fn purge(&self, upto: LogId<u64>) -> Result<(), AnyError> {
        self.write(Durability::Immediate, |txn| {
            txn.open_table(LOG)?
                .retain_in(..=upto.index, |_, _| false)?;
            put(txn, PURGED, &upto)
        })
    }

    pub(crate) fn vote(&self) -> Result<Option<Vote<u64>>, AnyError> {
        self.get(VOTE)
    }

    /// Saves `vote`, on disk when it returns.
    pub(crate) fn save_vote(&self, vote: &Vote<u64>) -> Result<(), AnyError> {
        self.write(Durability::Immediate, |txn| put(txn, VOTE, vote))
    }

    pub(crate) fn committed(&self) -> Result<Option<LogId<u64>>, AnyError> {
        Ok(self.get::<Option<LogId<u64>>>(COMMITTED)?.flatten())
    }

    /// Saves the commit point, on disk when it returns (see the module
    /// docs).
    pub(crate) fn save_committed(&self, committed: Option<LogId<u64>>) -> Result<(), AnyError> {
        self.write(Durability::Immediate, |txn| put(txn, COMMITTED, &committed))
    }

    pub(crate) fn purged(&self) -> Result<Option<LogId<u64>>, AnyError> {
        self.get(PURGED)
    }

    /// The latest snapshot saved, if any: its metadata and its data.
    pub(crate) fn snapshot(&self) -> Result<Option<SavedSnapshot>, AnyError> {
        self.read(|txn| {
            let table = txn.open_table(META)?;
            let (Some(meta), Some(data)) = (table.get(SNAPSHOT_META)?, table.get(SNAPSHOT_DATA)?)
            else {
                return Ok(None);
            };
            let meta = rmp_serde::from_slice(meta.value())?;
            Ok(Some((meta, data.value().to_vec())))
        })
    }

    /// Replaces the saved snapshot, on disk when it returns.
    pub(crate) fn save_snapshot(
        &self,
        meta: &SnapshotMeta<u64, Member>,
        data: &[u8],
    ) -> Result<(), AnyError> {
        self.write(Durability::Immediate, |txn| {
            put(txn, SNAPSHOT_META, meta)?;
            txn.open_table(META)?.insert(SNAPSHOT_DATA, data)?;
            Ok(())
        })
    }

    /// The value at `key` of the meta table, decoded.
    fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, AnyError> {
        self.read(|txn| {
            let table = txn.open_table(META)?;
            let Some(value) = table.get(key)? else {
                return Ok(None);
            };
            Ok(Some(rmp_serde::from_slice(value.value())?))
        })
    }

    /// Runs `look` in one read transaction.
    fn read<T>(
        &self,
        look: impl FnOnce(&ReadTransaction) -> Result<T, Failure>,
    ) -> Result<T, AnyError> {
        let db = self.db.read().unwrap_or_else(PoisonError::into_inner);
        let read = || -> Result<T, Failure> {
            let db = db.as_ref().ok_or("closed")?;
            look(&db.begin_read()?)
        };
        read().map_err(|e| self.fail(e))
    }

    /// Runs `change` in one write transaction committed with `durability`.
    fn write<T>(
        &self,
        durability: Durability,
        change: impl FnOnce(&WriteTransaction) -> Result<T, Failure>,
    ) -> Result<T, AnyError> {
        let db = self.db.read().unwrap_or_else(PoisonError::into_inner);
        let write = || -> Result<T, Failure> {
            let db = db.as_ref().ok_or("closed")?;
            let mut txn = db.begin_write()?;
            txn.set_durability(durability);
            let done = change(&txn)?;
            txn.commit()?;
            Ok(done)
        };
        write().map_err(|e| self.fail(e))
    }

    /// `failure`, naming the file.
    fn fail(&self, failure: Failure) -> AnyError {
        AnyError::error(format!("{}: {failure}", self.path.display()))
    }
}

/// Puts `value`, in MessagePack, at `key` of the meta table.
fn put<T: Serialize>(txn: &WriteTransaction, key: &str, value: &T) -> Result<(), Failure> {
    let bytes = rmp_serde::to_vec_named(value)?;
    txn.open_table(META)?.insert(key, bytes.as_slice())?;
    Ok(())
}
