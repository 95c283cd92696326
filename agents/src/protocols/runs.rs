//! The recent protocol runs a node coordinated: what ran, with how many
//! agents, how long it took and how it ended, newest last
//! ([`Agents::recent_runs`](crate::Agents::recent_runs)). Kept in memory,
//! bounded, for operators (the management API, the dashboard); the
//! metrics of every run are the counters and histograms of
//! [`protocol`](super::protocol).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// How many runs a node keeps.
pub const KEPT_RUNS: usize = 200;

/// One protocol run, as the node that coordinated it recorded it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunRecord {
    /// Its number on this node: 1 for the first run, then one more each.
    pub seq: u64,
    /// The protocol ([`Protocol::NAME`](super::Protocol::NAME)).
    pub protocol: String,
    /// The node that coordinated it.
    pub node: String,
    /// The correlation id of its events in the node's journal
    /// ([`Node::journal`](actor_cluster::Node::journal)):
    /// `run/NODE/SEQ`, on `protocol.started` and `protocol.finished`.
    pub correlation: String,
    /// When it started, in milliseconds since the Unix epoch.
    pub started_ms: u64,
    /// How long it ran, in milliseconds.
    pub duration_ms: u64,
    /// How many agents were invited.
    pub invited: usize,
    /// How many answered.
    pub answered: usize,
    /// Whether it reached a result.
    pub ok: bool,
    /// Its result in one line ([`Protocol::summary`](super::Protocol::summary)),
    /// or the error that ended it.
    pub summary: Option<String>,
}

/// The bounded log of a node's recent runs, shared by its [`Agents`](crate::Agents)
/// handles.
#[derive(Debug, Clone, Default)]
pub(crate) struct RunLog {
    inner: Arc<Mutex<Log>>,
}

#[derive(Debug, Default)]
struct Log {
    next: u64,
    runs: VecDeque<RunRecord>,
}

impl RunLog {
    /// The number the next run gets.
    pub(crate) fn next_seq(&self) -> u64 {
        let mut log = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        log.next += 1;
        log.next
    }

    /// Keeps `record`, dropping the oldest beyond [`KEPT_RUNS`].
    pub(crate) fn push(&self, record: RunRecord) {
        let mut log = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if log.runs.len() == KEPT_RUNS {
            log.runs.pop_front();
        }
        log.runs.push_back(record);
    }

    /// The kept runs, oldest first.
    pub(crate) fn list(&self) -> Vec<RunRecord> {
        let log = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        log.runs.iter().cloned().collect()
    }
}

/// Milliseconds since the Unix epoch, of `at`.
pub(crate) fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: u64) -> RunRecord {
        RunRecord {
            seq,
            protocol: "vote".into(),
            node: "a".into(),
            correlation: format!("run/a/{seq}"),
            started_ms: 0,
            duration_ms: 1,
            invited: 3,
            answered: 3,
            ok: true,
            summary: None,
        }
    }

    #[test]
    fn the_log_keeps_the_newest_runs_in_order() {
        let log = RunLog::default();
        for _ in 0..KEPT_RUNS + 5 {
            let seq = log.next_seq();
            log.push(record(seq));
        }
        let kept = log.list();
        assert_eq!(kept.len(), KEPT_RUNS);
        assert_eq!(kept[0].seq, 6);
        assert_eq!(kept.last().map(|r| r.seq), Some(KEPT_RUNS as u64 + 5));
    }
}
