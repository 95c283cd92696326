//! The Raft log store and the state machine that applies [`Proposal`]s
//! to a [`Table`], with snapshots of the table: in memory, or, when the
//! node has a data dir, on disk ([`Disk`]).
//!
//! Both are cheap handles on shared data (openraft takes the store, the
//! state machine, a log reader and a snapshot builder by value; the
//! [`Variables`](crate::variables::Variables) handle reads the table
//! through its own clone). Locks are `std` mutexes held for no `await`;
//! the disk is used from tokio's blocking pool.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Debug;
use std::io::Cursor;
use std::ops::RangeBounds;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use openraft::storage::{LogFlushed, RaftLogStorage, RaftStateMachine};
use openraft::{
    AnyError, Entry, EntryPayload, LogId, LogState, OptionalSend, RaftLogReader,
    RaftSnapshotBuilder, Snapshot, SnapshotMeta, StorageError, StorageIOError, StoredMembership,
    Vote,
};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use super::disk::Disk;
use super::{Applied, Member, Proposal, RequestId, TypeConfig};
use crate::variables::{Change, Command, Committed, Table, VariableError};

/// How many answers to recent requests the state machine keeps to answer
/// a repeated request (a retried write) without applying it again.
pub(crate) const ANSWERS_KEPT: usize = 4096;
/// How many changes a subscriber may fall behind before it is told it
/// missed some.
const CHANGES_KEPT: usize = 1024;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The log store and the state machine of node `node`: on disk in
/// `data_dir` (the state machine starting from the snapshot saved there)
/// if there is one, in memory otherwise.
///
/// # Errors
/// [`VariableError::Unavailable`] naming the path if the data dir cannot
/// be used (see [`Disk::open`]) or its snapshot cannot be read.
pub(crate) async fn open(
    data_dir: Option<&Path>,
    node: &str,
) -> Result<(LogStore, StateMachine), VariableError> {
    let Some(dir) = data_dir else {
        return Ok((LogStore::default(), StateMachine::default()));
    };
    let (dir, node) = (dir.to_owned(), node.to_owned());
    let shown = dir.display().to_string();
    let opened = tokio::task::spawn_blocking(move || {
        let disk = Arc::new(Disk::open(&dir, &node)?);
        let machine = StateMachine::on_disk(Arc::clone(&disk))?;
        Ok((LogStore(Backend::Disk(disk)), machine))
    });
    // redb asserts on some damage rather than answering an error; the
    // blocking pool catches the panic, and it is answered as one.
    opened.await.map_err(|e| VariableError::Unavailable {
        reason: format!("variables data at {shown}: cannot open it (damaged?): {e}"),
    })?
}

/// Runs `f` on tokio's blocking pool: redb's reads, writes and syncs
/// must not hold up an async worker.
async fn blocking<T, F>(f: F) -> Result<T, AnyError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, AnyError> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(done) => done,
        Err(e) => Err(AnyError::new(&e)),
    }
}

/// Runs `f` with `disk` on tokio's blocking pool.
async fn on_disk<T, F>(disk: &Arc<Disk>, f: F) -> Result<T, AnyError>
where
    T: Send + 'static,
    F: FnOnce(&Disk) -> Result<T, AnyError> + Send + 'static,
{
    let disk = Arc::clone(disk);
    blocking(move || f(&disk)).await
}

/// The Raft log, its vote and its commit point.
#[derive(Debug, Clone, Default)]
pub(crate) struct LogStore(Backend);

#[derive(Debug, Clone)]
enum Backend {
    /// In memory: a restarted node comes back empty.
    Memory(Arc<Mutex<Log>>),
    /// In the node's data dir.
    Disk(Arc<Disk>),
}

impl Default for Backend {
    fn default() -> Self {
        Self::Memory(Arc::default())
    }
}

/// The log in memory.
#[derive(Debug, Default)]
struct Log {
    entries: BTreeMap<u64, Entry<TypeConfig>>,
    vote: Option<Vote<u64>>,
    committed: Option<LogId<u64>>,
    purged: Option<LogId<u64>>,
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<u64>> {
        match &self.0 {
            Backend::Memory(log) => {
                let log = lock(log);
                Ok(log.entries.range(range).map(|(_, e)| e.clone()).collect())
            }
            Backend::Disk(disk) => {
                let range = (range.start_bound().cloned(), range.end_bound().cloned());
                let entries = on_disk(disk, move |d| d.entries(range)).await;
                Ok(entries.map_err(StorageIOError::read_logs)?)
            }
        }
    }
}

impl LogStore {
    /// Appends `entries`, "flushed" when it returns: in memory, once they
    /// are in the map; on disk, once redb's commit (and its sync) is done.
    async fn append_now(&self, entries: Vec<Entry<TypeConfig>>) -> Result<(), StorageError<u64>> {
        match &self.0 {
            Backend::Memory(log) => {
                let mut log = lock(log);
                for entry in entries {
                    log.entries.insert(entry.log_id.index, entry);
                }
            }
            Backend::Disk(disk) => {
                let saved = on_disk(disk, move |d| d.append(&entries)).await;
                saved.map_err(StorageIOError::write_logs)?;
            }
        }
        Ok(())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<u64>> {
        let (last, purged) = match &self.0 {
            Backend::Memory(log) => {
                let log = lock(log);
                (
                    log.entries.values().next_back().map(|e| e.log_id),
                    log.purged,
                )
            }
            Backend::Disk(disk) => {
                let state = on_disk(disk, |d| Ok((d.last_log_id()?, d.purged()?))).await;
                state.map_err(StorageIOError::read_logs)?
            }
        };
        Ok(LogState {
            last_purged_log_id: purged,
            last_log_id: last.or(purged),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<(), StorageError<u64>> {
        match &self.0 {
            Backend::Memory(log) => lock(log).vote = Some(*vote),
            Backend::Disk(disk) => {
                let vote = *vote;
                let saved = on_disk(disk, move |d| d.save_vote(&vote)).await;
                saved.map_err(StorageIOError::write_vote)?;
            }
        }
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>, StorageError<u64>> {
        match &self.0 {
            Backend::Memory(log) => Ok(lock(log).vote),
            Backend::Disk(disk) => {
                let vote = on_disk(disk, Disk::vote).await;
                Ok(vote.map_err(StorageIOError::read_vote)?)
            }
        }
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<u64>>,
    ) -> Result<(), StorageError<u64>> {
        match &self.0 {
            Backend::Memory(log) => lock(log).committed = committed,
            Backend::Disk(disk) => {
                let saved = on_disk(disk, move |d| d.save_committed(committed)).await;
                saved.map_err(StorageIOError::write)?;
            }
        }
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<u64>>, StorageError<u64>> {
        match &self.0 {
            Backend::Memory(log) => Ok(lock(log).committed),
            Backend::Disk(disk) => {
                let committed = on_disk(disk, Disk::committed).await;
                Ok(committed.map_err(StorageIOError::read)?)
            }
        }
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError<u64>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        self.append_now(entries.into_iter().collect()).await?;
        callback.log_io_completed(Ok(()));
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> Result<(), StorageError<u64>> {
        match &self.0 {
            Backend::Memory(log) => {
                lock(log).entries.split_off(&log_id.index);
            }
            Backend::Disk(disk) => {
                let done = on_disk(disk, move |d| d.truncate(log_id.index)).await;
                done.map_err(StorageIOError::write_logs)?;
            }
        }
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> Result<(), StorageError<u64>> {
        match &self.0 {
            Backend::Memory(log) => {
                let mut log = lock(log);
                let kept = log.entries.split_off(&(log_id.index + 1));
                log.entries = kept;
                log.purged = Some(log_id);
            }
            Backend::Disk(disk) => {
                let done = on_disk(disk, move |d| d.purge(log_id)).await;
                done.map_err(StorageIOError::write_logs)?;
            }
        }
        Ok(())
    }
}

/// The applied state: the table, how far the log has been applied, the
/// membership in force, and the answers to recent requests.
#[derive(Debug, Clone, Default)]
pub(crate) struct Machine {
    table: Table,
    last_applied: Option<LogId<u64>>,
    membership: StoredMembership<u64, Member>,
    answers: Answers,
}

impl Machine {
    /// The table as applied so far.
    pub(crate) fn table(&self) -> &Table {
        &self.table
    }

    /// Applies `proposal`, or answers again what a request with its id
    /// was answered; with the change it made, if it made one.
    fn apply(&mut self, proposal: Proposal) -> (Result<Committed, VariableError>, Option<Change>) {
        if let Some(answer) = self.answers.get(&proposal.id) {
            return (answer.clone(), None);
        }
        let change: fn(Committed) -> Change = match proposal.command {
            Command::Define { .. } => Change::Defined,
            Command::Commit { .. } => Change::Committed,
            Command::Delete { .. } => Change::Deleted,
        };
        let answer = self.table.apply(proposal.command);
        self.answers.record(proposal.id, answer.clone());
        let change = answer.clone().ok().map(change);
        (answer, change)
    }

    /// The state a snapshot holds.
    fn restore(
        meta: &SnapshotMeta<u64, Member>,
        data: &[u8],
    ) -> Result<Self, rmp_serde::decode::Error> {
        let body: SnapshotBody = rmp_serde::from_slice(data)?;
        let mut answers = Answers::default();
        for (id, answer) in body.answers {
            answers.record(id, answer);
        }
        Ok(Self {
            table: body.table,
            last_applied: meta.last_log_id,
            membership: meta.last_membership.clone(),
            answers,
        })
    }
}

/// Recent answers by request id, the oldest forgotten first.
#[derive(Debug, Clone, Default)]
struct Answers {
    by_id: BTreeMap<RequestId, Result<Committed, VariableError>>,
    order: VecDeque<RequestId>,
}

impl Answers {
    fn get(&self, id: &RequestId) -> Option<&Result<Committed, VariableError>> {
        self.by_id.get(id)
    }

    fn record(&mut self, id: RequestId, answer: Result<Committed, VariableError>) {
        self.order.push_back(id.clone());
        self.by_id.insert(id, answer);
        while self.order.len() > ANSWERS_KEPT {
            if let Some(old) = self.order.pop_front() {
                self.by_id.remove(&old);
            }
        }
    }
}

/// What a snapshot holds besides its metadata (which carries the last
/// applied log id and the membership).
#[derive(Serialize, Deserialize)]
struct SnapshotBody {
    table: Table,
    /// Recent answers, oldest first.
    answers: Vec<(RequestId, Result<Committed, VariableError>)>,
}

/// A snapshot as the state machine keeps its latest one.
#[derive(Debug, Clone)]
struct StoredSnapshot {
    meta: SnapshotMeta<u64, Member>,
    data: Vec<u8>,
}

/// The state machine: the [`Machine`] and its latest snapshot, shared by
/// openraft's state-machine worker, its snapshot builder and the handle,
/// which subscribes to the changes it applies.
///
/// With a data dir, the latest snapshot is also on disk, saved before
/// openraft is told it exists (so before it purges the log it covers);
/// the state machine starts from it, and openraft applies the committed
/// entries after it again.
#[derive(Debug, Clone)]
pub(crate) struct StateMachine {
    machine: Arc<Mutex<Machine>>,
    snapshot: Arc<Mutex<Snapshots>>,
    disk: Option<Arc<Disk>>,
    changes: broadcast::Sender<Change>,
}

impl Default for StateMachine {
    fn default() -> Self {
        Self {
            machine: Arc::default(),
            snapshot: Arc::default(),
            disk: None,
            changes: broadcast::channel(CHANGES_KEPT).0,
        }
    }
}

#[derive(Debug, Default)]
struct Snapshots {
    latest: Option<StoredSnapshot>,
    /// Snapshots built so far, to give each a distinct id.
    built: u64,
}

impl StateMachine {
    /// A state machine keeping its snapshots on `disk`, starting from the
    /// one saved there, if any.
    ///
    /// # Errors
    /// [`VariableError::Unavailable`] naming the file if the snapshot
    /// cannot be read.
    fn on_disk(disk: Arc<Disk>) -> Result<Self, VariableError> {
        let unreadable = |why: String| VariableError::Unavailable {
            reason: format!("the variables snapshot cannot be read: {why}"),
        };
        let saved = disk.snapshot().map_err(|e| unreadable(e.to_string()))?;
        let this = Self {
            disk: Some(Arc::clone(&disk)),
            ..Self::default()
        };
        if let Some((meta, data)) = saved {
            let machine = Machine::restore(&meta, &data)
                .map_err(|e| unreadable(format!("{}: {e}", disk.path().display())))?;
            *lock(&this.machine) = machine;
            lock(&this.snapshot).latest = Some(StoredSnapshot { meta, data });
        }
        Ok(this)
    }

    /// Closes the data dir, if there is one, so that it can be opened
    /// again: call it once the Raft has stopped (see [`Disk::close`]).
    pub(crate) async fn close(&self) {
        if let Some(disk) = &self.disk {
            let closed = on_disk(disk, |d| {
                d.close();
                Ok(())
            });
            if let Err(e) = closed.await {
                tracing::warn!(error = %e, "the variables data dir did not close cleanly");
            }
        }
    }

    /// Reads the applied state.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&Machine) -> R) -> R {
        f(&lock(&self.machine))
    }

    /// The changes applied from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// Tells subscribers `change` (nobody listening is fine).
    fn tell(&self, change: Change) {
        let _ = self.changes.send(change);
    }

    /// Makes `snapshot` the latest one, saving it on disk first if there
    /// is a disk; unless the latest is newer (a snapshot built from an
    /// older state while a newer one was installed), then it is dropped.
    /// Blocking: call it on the blocking pool.
    fn keep(&self, snapshot: StoredSnapshot) -> Result<(), AnyError> {
        let mut snapshots = lock(&self.snapshot);
        let newer_kept = snapshots
            .latest
            .as_ref()
            .is_some_and(|latest| latest.meta.last_log_id > snapshot.meta.last_log_id);
        if newer_kept {
            return Ok(());
        }
        if let Some(disk) = &self.disk {
            disk.save_snapshot(&snapshot.meta, &snapshot.data)?;
        }
        snapshots.latest = Some(snapshot);
        Ok(())
    }

    /// [`keep`](Self::keep) on the blocking pool.
    async fn keep_off_thread(&self, snapshot: StoredSnapshot) -> Result<(), StorageError<u64>> {
        let signature = snapshot.meta.signature();
        let this = self.clone();
        let kept = blocking(move || this.keep(snapshot)).await;
        Ok(kept.map_err(|e| StorageIOError::write_snapshot(Some(signature), e))?)
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<u64>> {
        let (data, last_applied, membership) = {
            let machine = lock(&self.machine);
            let body = SnapshotBody {
                table: machine.table.clone(),
                answers: machine
                    .answers
                    .order
                    .iter()
                    .filter_map(|id| Some((id.clone(), machine.answers.get(id)?.clone())))
                    .collect(),
            };
            let data = rmp_serde::to_vec_named(&body)
                .map_err(|e| StorageIOError::write_snapshot(None, &e))?;
            (data, machine.last_applied, machine.membership.clone())
        };
        let built = {
            let mut snapshots = lock(&self.snapshot);
            snapshots.built += 1;
            snapshots.built
        };
        let snapshot_id = match last_applied {
            Some(id) => format!("{}-{}-{built}", id.leader_id, id.index),
            None => format!("none-{built}"),
        };
        let meta = SnapshotMeta {
            last_log_id: last_applied,
            last_membership: membership,
            snapshot_id,
        };
        self.keep_off_thread(StoredSnapshot {
            meta: meta.clone(),
            data: data.clone(),
        })
        .await?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<u64>>, StoredMembership<u64, Member>), StorageError<u64>> {
        let machine = lock(&self.machine);
        Ok((machine.last_applied, machine.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Applied>, StorageError<u64>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut machine = lock(&self.machine);
        let mut answers = Vec::new();
        for entry in entries {
            machine.last_applied = Some(entry.log_id);
            answers.push(match entry.payload {
                EntryPayload::Blank => None,
                EntryPayload::Normal(proposal) => {
                    let (answer, change) = machine.apply(proposal);
                    if let Some(change) = change {
                        self.tell(change);
                    }
                    Some(answer)
                }
                EntryPayload::Membership(membership) => {
                    machine.membership = StoredMembership::new(Some(entry.log_id), membership);
                    None
                }
            });
        }
        Ok(answers)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<u64>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, Member>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<u64>> {
        let data = snapshot.into_inner();
        let machine = Machine::restore(meta, &data)
            .map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), &e))?;
        // On disk first: once this returns, openraft may purge the log.
        self.keep_off_thread(StoredSnapshot {
            meta: meta.clone(),
            data,
        })
        .await?;
        let before = std::mem::replace(&mut *lock(&self.machine), machine);
        let changes = self.read(|now| differences(&before.table, now.table()));
        for change in changes {
            self.tell(change);
        }
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<u64>> {
        Ok(lock(&self.snapshot).latest.as_ref().map(|s| Snapshot {
            meta: s.meta.clone(),
            snapshot: Box::new(Cursor::new(s.data.clone())),
        }))
    }
}

/// The changes that turn table `before` into `after`, for subscribers of
/// a node that catches up by a snapshot: each variable defined, at a new
/// version or gone.
fn differences(before: &Table, after: &Table) -> Vec<Change> {
    let mut changes = Vec::new();
    for name in after.names() {
        let Some(now) = after.get(name) else { continue };
        match before.get(name) {
            None => changes.push(Change::Defined(now.clone())),
            Some(was) if was.version != now.version => {
                changes.push(Change::Committed(now.clone()));
            }
            Some(_) => {}
        }
    }
    for name in before.names() {
        if after.get(name).is_none() {
            if let Some(was) = before.get(name) {
                changes.push(Change::Deleted(was.clone()));
            }
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::Value;
    use crate::variables::{Command, Definition, Kind};
    use openraft::testing::{StoreBuilder, Suite};
    use openraft::{CommittedLeaderId, Membership};

    struct Builder;

    impl StoreBuilder<TypeConfig, LogStore, StateMachine> for Builder {
        async fn build(&self) -> Result<((), LogStore, StateMachine), StorageError<u64>> {
            Ok(((), LogStore::default(), StateMachine::default()))
        }
    }

    /// openraft's own conformance suite for log stores and state machines.
    #[test]
    fn the_store_passes_openraft_suite() {
        Suite::test_all(Builder).expect("openraft storage suite");
    }

    /// Builds stores on disk, each in a directory of its own that lives
    /// as long as the store.
    struct DiskBuilder;

    impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for DiskBuilder {
        async fn build(
            &self,
        ) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError<u64>> {
            let dir = tempfile::tempdir().map_err(|e| StorageIOError::write(&e))?;
            let (log, machine) = open(Some(dir.path()), "n1")
                .await
                .map_err(|e| StorageIOError::write(&e))?;
            Ok((dir, log, machine))
        }
    }

    /// The same suite, on disk.
    #[test]
    fn the_disk_store_passes_openraft_suite() {
        Suite::test_all(DiskBuilder).expect("openraft storage suite on disk");
    }

    /// Everything the store was told is there again when it is opened
    /// anew: vote, entries, commit point, purge point, and the state
    /// machine as of its snapshot.
    #[tokio::test]
    async fn a_store_on_disk_comes_back_as_it_was() {
        let dir = tempfile::tempdir().expect("dir");
        let vote = Vote::new_committed(3, 7);
        let snapshot = {
            let (mut log, mut sm) = open(Some(dir.path()), "n1").await.expect("open");
            log.save_vote(&vote).await.expect("vote");
            let entries = [
                entry(1, define_lr(), 1),
                entry(2, commit_lr(0.5), 2),
                entry(3, commit_lr(0.7), 3),
            ];
            log.append_now(entries.to_vec()).await.expect("append");
            log.save_committed(Some(entries[2].log_id))
                .await
                .expect("committed");
            sm.apply(entries[..2].to_vec()).await.expect("apply");
            let snapshot = sm.build_snapshot().await.expect("snapshot");
            log.purge(entries[0].log_id).await.expect("purge");
            snapshot.meta
        };
        let (mut log, mut sm) = open(Some(dir.path()), "n1").await.expect("reopen");
        assert_eq!(log.read_vote().await.expect("vote"), Some(vote));
        let state = log.get_log_state().await.expect("state");
        assert_eq!(state.last_purged_log_id.map(|l| l.index), Some(1));
        assert_eq!(state.last_log_id.map(|l| l.index), Some(3));
        let committed = log.read_committed().await.expect("committed");
        assert_eq!(committed.map(|l| l.index), Some(3));
        let kept = log.try_get_log_entries(0..10).await.expect("entries");
        let indexes: Vec<u64> = kept.iter().map(|e| e.log_id.index).collect();
        assert_eq!(indexes, [2, 3]);
        let (applied, _) = sm.applied_state().await.expect("applied");
        assert_eq!(applied.map(|l| l.index), Some(2));
        assert_eq!(sm.read(|m| m.table().get("lr").map(|c| c.version)), Some(1));
        let current = sm.get_current_snapshot().await.expect("current");
        assert_eq!(current.map(|s| s.meta), Some(snapshot));
        // The answers came back with the snapshot: a retried request is
        // answered, not applied again.
        let again = sm
            .apply([entry(3, commit_lr(0.5), 2)])
            .await
            .expect("apply");
        assert_eq!(again[0].clone().map(|a| a.map(|c| c.version)), Some(Ok(1)));
    }

    #[tokio::test]
    async fn a_data_dir_that_cannot_be_used_is_refused_with_its_path() {
        let dir = tempfile::tempdir().expect("dir");
        let reason = |refused: Result<(LogStore, StateMachine), VariableError>| match refused {
            Err(VariableError::Unavailable { reason }) => reason,
            other => panic!("{other:?}"),
        };

        // A file where the directory should be.
        let file = dir.path().join("file");
        std::fs::write(&file, b"not a directory").expect("file");
        let why = reason(open(Some(&file), "n1").await);
        assert!(why.contains(&file.display().to_string()), "{why}");

        // Not a redb file.
        let garbage = dir.path().join("garbage");
        std::fs::create_dir(&garbage).expect("dir");
        let db = garbage.join(super::super::disk::FILE);
        std::fs::write(&db, vec![0x5a; 8192]).expect("garbage");
        let why = reason(open(Some(&garbage), "n1").await);
        assert!(why.contains(&db.display().to_string()), "{why}");

        // In use: a second opening while the first is open.
        let used = dir.path().join("used");
        let first = open(Some(&used), "n1").await.expect("first");
        let why = reason(open(Some(&used), "n1").await);
        assert!(why.contains("in use"), "{why}");
        drop(first);

        // Another node's data.
        let why = reason(open(Some(&used), "n2").await);
        assert!(why.contains("belongs to node `n1`"), "{why}");
        assert!(open(Some(&used), "n1").await.is_ok());
    }

    fn entry(index: u64, command: Command, serial: u64) -> Entry<TypeConfig> {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 7), index),
            payload: EntryPayload::Normal(Proposal {
                id: RequestId {
                    origin: "n1".into(),
                    session: 1,
                    serial,
                },
                command,
            }),
        }
    }

    fn define_lr() -> Command {
        Command::Define {
            definition: Definition::new("lr", Kind::float(0.0, 2.0), Value::Float(0.1)),
            at_ms: 1,
        }
    }

    fn commit_lr(v: f64) -> Command {
        Command::Commit {
            name: "lr".into(),
            value: Value::Float(v),
            seen: None,
            by: "a".into(),
            at_ms: 2,
        }
    }

    #[tokio::test]
    async fn a_repeated_request_is_answered_once_and_applied_once() {
        let mut sm = StateMachine::default();
        let mut changes = sm.subscribe();
        let answers = sm
            .apply([
                entry(1, define_lr(), 1),
                entry(2, commit_lr(0.5), 2),
                // The same request again (a retried write): same answer.
                entry(3, commit_lr(0.5), 2),
                entry(4, commit_lr(3.0), 3),
            ])
            .await
            .expect("apply");
        let versions: Vec<_> = answers
            .iter()
            .map(|a| a.clone().expect("a command").map(|c| c.version))
            .collect();
        assert_eq!(versions[..3], [Ok(0), Ok(1), Ok(1)]);
        assert!(matches!(
            versions[3],
            Err(VariableError::InvalidValue { .. })
        ));
        assert_eq!(sm.read(|m| m.table().get("lr").map(|c| c.version)), Some(1));
        // Subscribers are told the definition and the one commit: not the
        // repeat, not the refusal.
        let told: Vec<Change> = std::iter::from_fn(|| changes.try_recv().ok()).collect();
        assert!(
            matches!(&told[..], [Change::Defined(d), Change::Committed(c)]
            if d.version == 0 && c.version == 1 && c.by == "a")
        );
    }

    #[test]
    fn a_snapshot_tells_subscribers_what_it_changed() {
        let mut before = Table::new();
        let mut after = Table::new();
        for table in [&mut before, &mut after] {
            table.apply(define_lr()).expect("define");
        }
        after.apply(commit_lr(0.5)).expect("commit");
        let other = Definition::new("k", Kind::int(0, 9), Value::Int(1));
        before
            .apply(Command::Define {
                definition: other.clone(),
                at_ms: 1,
            })
            .expect("define");
        let gone = Definition::new("x", Kind::Bool, Value::Bool(true));
        after
            .apply(Command::Define {
                definition: gone,
                at_ms: 1,
            })
            .expect("define");
        let changes = differences(&before, &after);
        let names: Vec<(&str, &str, u64)> = changes
            .iter()
            .map(|c| {
                let kind = match c {
                    Change::Defined(_) => "defined",
                    Change::Committed(_) => "committed",
                    Change::Deleted(_) => "deleted",
                };
                (kind, c.value().name.as_str(), c.value().version)
            })
            .collect();
        assert_eq!(
            names,
            [
                ("committed", "lr", 1),
                ("defined", "x", 0),
                ("deleted", "k", 0)
            ]
        );
        assert!(differences(&after, &after).is_empty());
    }

    #[tokio::test]
    async fn a_snapshot_rebuilds_the_table_and_its_answers() {
        let mut sm = StateMachine::default();
        let members = Membership::new(vec![[7u64].into()], ());
        let mut first = entry(1, define_lr(), 1);
        first.payload = EntryPayload::Membership(members);
        sm.apply([first, entry(2, define_lr(), 1), entry(3, commit_lr(0.5), 2)])
            .await
            .expect("apply");
        let snapshot = sm.build_snapshot().await.expect("snapshot");
        assert_eq!(snapshot.meta.last_log_id.map(|l| l.index), Some(3));

        let mut other = StateMachine::default();
        other
            .install_snapshot(&snapshot.meta, snapshot.snapshot)
            .await
            .expect("install");
        let (applied, membership) = other.applied_state().await.expect("state");
        assert_eq!(applied.map(|l| l.index), Some(3));
        assert_eq!(membership.voter_ids().collect::<Vec<_>>(), [7]);
        assert_eq!(
            other.read(|m| m.table().history("lr")),
            sm.read(|m| m.table().history("lr"))
        );
        // The answers came along: the retried commit is not applied again.
        let again = other
            .apply([entry(4, commit_lr(0.5), 2)])
            .await
            .expect("apply");
        assert_eq!(again[0].clone().map(|a| a.map(|c| c.version)), Some(Ok(1)));
        let current = other.get_current_snapshot().await.expect("current");
        assert_eq!(
            current.map(|s| s.meta.snapshot_id),
            Some(snapshot.meta.snapshot_id)
        );
    }
}
