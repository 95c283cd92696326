//! Failure detection that costs O(k) per node, after Akka Cluster's design:
//! the members form a ring ordered by name, and each node heartbeats only
//! the `k` members that follow it, so each member is watched by the `k`
//! that precede it. A watcher that hears nothing from a watched member for
//! most of the failure timeout reports it unreachable to every node; each
//! node (the watcher too) then checks for itself with a direct ping, and
//! declares the member down only if that goes unanswered as well.
//!
//! A node that was itself paused (SIGSTOP, a stalled machine) sees its
//! timer fire late: it blames nobody for the silence of that pause.
//!
//! This is the decision logic only, with time passed in; the gateway does
//! the sending. Killed nodes are not this module's business: their TCP
//! connections close, and the gateway sees that at once.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio::time::Instant;

/// How many ring successors each node watches.
pub(crate) const WATCHED: usize = 3;

/// What a [`Detector::tick`] asks the gateway to do.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Actions {
    /// Send a ping to each.
    pub(crate) ping: Vec<String>,
    /// Tell every node that each of these is unreachable from here.
    pub(crate) report: Vec<String>,
    /// These went unanswered: down, with the reason.
    pub(crate) down: Vec<(String, String)>,
    /// This node's own timers were late by this much: it was paused.
    pub(crate) paused: Option<Duration>,
}

#[derive(Debug)]
struct Watch {
    last_heard: Instant,
    /// Being checked: the deadline of the direct ping, and who reported it.
    verifying: Option<(Instant, String)>,
}

/// The failure detector of one node.
#[derive(Debug)]
pub(crate) struct Detector {
    node: String,
    heartbeat: Duration,
    /// Silence after which a watched member is reported unreachable.
    report_after: Duration,
    /// How long a direct ping may go unanswered before the member is down.
    verify_for: Duration,
    members: BTreeMap<String, Watch>,
    /// The members this node watched at the last tick.
    watching: BTreeSet<String>,
    last_tick: Instant,
}

impl Detector {
    /// A detector for `node` that ticks every `heartbeat` and declares a
    /// silent member down after about `failure_timeout`: reported after
    /// three quarters of it, checked during the last quarter.
    pub(crate) fn new(
        node: &str,
        heartbeat: Duration,
        failure_timeout: Duration,
        now: Instant,
    ) -> Self {
        let verify_for = failure_timeout / 4;
        Self {
            node: node.to_owned(),
            heartbeat,
            report_after: failure_timeout - verify_for,
            verify_for,
            members: BTreeMap::new(),
            watching: BTreeSet::new(),
            last_tick: now,
        }
    }

    /// How long a check waits for an answer; the gateway ticks again at
    /// its end, so that a member that stays silent is down on time.
    pub(crate) fn verify_for(&self) -> Duration {
        self.verify_for
    }

    /// Whether this node has not ticked for three heartbeats: it is being
    /// resumed from a pause (or is starved), and its next tick will say so.
    pub(crate) fn stalled(&self, now: Instant) -> bool {
        now.duration_since(self.last_tick) > self.heartbeat * 3
    }

    /// A member is up.
    pub(crate) fn add(&mut self, node: &str, now: Instant) {
        self.members.entry(node.to_owned()).or_insert(Watch {
            last_heard: now,
            verifying: None,
        });
    }

    /// A member is gone (down, or its connection closed).
    pub(crate) fn remove(&mut self, node: &str) {
        self.members.remove(node);
        self.watching.remove(node);
    }

    /// Something arrived from `node`. True if that ends a check of it.
    pub(crate) fn heard(&mut self, node: &str, now: Instant) -> bool {
        match self.members.get_mut(node) {
            Some(watch) => {
                watch.last_heard = now;
                watch.verifying.take().is_some()
            }
            None => false,
        }
    }

    /// How long `node` has been silent.
    pub(crate) fn silent(&self, node: &str, now: Instant) -> Duration {
        self.members
            .get(node)
            .map_or(Duration::ZERO, |w| now.duration_since(w.last_heard))
    }

    /// Whether `node` is being checked.
    #[cfg(test)]
    fn verifying(&self, node: &str) -> bool {
        self.members
            .get(node)
            .is_some_and(|w| w.verifying.is_some())
    }

    /// `by` reports `node` unreachable: check it with a direct ping (the
    /// returned name) unless a check is under way or it was heard from
    /// within the last heartbeat.
    pub(crate) fn reported(&mut self, node: &str, by: &str, now: Instant) -> Option<String> {
        let verify_for = self.verify_for;
        let heartbeat = self.heartbeat;
        let watch = self.members.get_mut(node)?;
        if watch.verifying.is_some() || now.duration_since(watch.last_heard) < heartbeat {
            return None;
        }
        watch.verifying = Some((now + verify_for, by.to_owned()));
        Some(node.to_owned())
    }

    /// The `WATCHED` members after this node on the ring of names.
    pub(crate) fn watched(&self) -> BTreeSet<String> {
        use std::ops::Bound::{Excluded, Unbounded};
        let me = self.node.as_str();
        let after = self
            .members
            .range::<str, _>((Excluded(me), Unbounded))
            .map(|(n, _)| n);
        let before = self
            .members
            .range::<str, _>((Unbounded, Excluded(me)))
            .map(|(n, _)| n);
        after.chain(before).take(WATCHED).cloned().collect()
    }

    /// One heartbeat: whom to ping, whom to report, who is down.
    pub(crate) fn tick(&mut self, now: Instant) -> Actions {
        let mut actions = Actions::default();
        let previous = self.last_tick;
        let late = now.duration_since(previous);
        self.last_tick = now;
        let watched = self.watched();
        if late > self.heartbeat * 3 {
            // We were not running: nobody's silence is their fault. Start
            // every clock again.
            for watch in self.members.values_mut() {
                watch.last_heard = now;
                if let Some((deadline, _)) = &mut watch.verifying {
                    *deadline = now + self.verify_for;
                }
            }
            actions.paused = Some(late);
        } else if late > self.heartbeat * 3 / 2 {
            // We ran late (a starved machine): the time we were not running
            // does not count against anyone.
            let lag = late - self.heartbeat;
            for watch in self.members.values_mut() {
                watch.last_heard = (watch.last_heard + lag).min(now);
                if let Some((deadline, _)) = &mut watch.verifying {
                    *deadline += lag;
                }
            }
        }
        // A member that just came into view was not pinged before the last
        // tick: its silence counts from then at most.
        for node in watched.difference(&self.watching) {
            if let Some(watch) = self.members.get_mut(node) {
                watch.last_heard = watch.last_heard.max(previous);
            }
        }
        self.watching.clone_from(&watched);
        for (node, watch) in &mut self.members {
            let silent = now.duration_since(watch.last_heard);
            match &watch.verifying {
                Some((deadline, by)) if now >= *deadline => {
                    let reason = if by == &self.node {
                        format!("no heartbeat for {silent:?}")
                    } else {
                        format!("no heartbeat for {silent:?} here either after {by} reported it unreachable")
                    };
                    actions.down.push((node.clone(), reason));
                }
                Some(_) => actions.ping.push(node.clone()),
                None if watched.contains(node) && silent >= self.report_after => {
                    watch.verifying = Some((now + self.verify_for, self.node.clone()));
                    actions.report.push(node.clone());
                    actions.ping.push(node.clone());
                }
                None if watched.contains(node) => actions.ping.push(node.clone()),
                None => {}
            }
        }
        for (node, _) in &actions.down {
            self.members.remove(node);
            self.watching.remove(node);
        }
        actions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEAT: Duration = Duration::from_millis(500);
    const TIMEOUT: Duration = Duration::from_secs(2);

    fn detector(node: &str, peers: &[&str], now: Instant) -> Detector {
        let mut d = Detector::new(node, BEAT, TIMEOUT, now);
        for p in peers {
            d.add(p, now);
        }
        d
    }

    #[test]
    fn each_node_watches_its_three_ring_successors() {
        let now = Instant::now();
        let d = detector("c", &["a", "b", "d", "e", "f"], now);
        assert_eq!(d.watched(), ["d", "e", "f"].map(String::from).into());
        let d = detector("e", &["a", "b", "c", "d", "f"], now);
        assert_eq!(d.watched(), ["f", "a", "b"].map(String::from).into());
        let d = detector("a", &["b"], now);
        assert_eq!(d.watched(), ["b"].map(String::from).into());
    }

    #[test]
    fn only_watched_members_are_pinged() {
        let now = Instant::now();
        let mut d = detector("a", &["b", "c", "d", "e", "f"], now);
        let actions = d.tick(now + BEAT);
        assert_eq!(actions.ping, ["b", "c", "d"]);
        assert!(actions.report.is_empty() && actions.down.is_empty());
    }

    #[test]
    fn a_silent_member_is_reported_then_down_after_the_timeout() {
        let start = Instant::now();
        let mut d = detector("a", &["b", "c"], start);
        let mut t = start;
        let mut reported_at = None;
        let down_at = loop {
            t += BEAT;
            d.heard("c", t);
            let actions = d.tick(t);
            if !actions.report.is_empty() {
                assert_eq!(actions.report, ["b"]);
                reported_at = Some(t - start);
            }
            if let Some((node, reason)) = actions.down.first() {
                assert_eq!(node, "b");
                assert!(reason.starts_with("no heartbeat"), "{reason}");
                break t - start;
            }
            assert!(t - start < TIMEOUT * 2, "never declared down");
        };
        assert_eq!(reported_at, Some(Duration::from_millis(1500)));
        assert_eq!(down_at, TIMEOUT);
        assert!(!d.members.contains_key("b"));
    }

    #[test]
    fn an_answer_during_the_check_keeps_the_member() {
        let start = Instant::now();
        let mut d = detector("a", &["b"], start);
        assert!(d.tick(start + BEAT).report.is_empty());
        assert!(d.tick(start + BEAT * 2).report.is_empty());
        let t = start + Duration::from_millis(1500);
        assert_eq!(d.tick(t).report, ["b"]);
        assert!(d.verifying("b"));
        assert!(d.heard("b", t + Duration::from_millis(100)));
        let actions = d.tick(t + BEAT);
        assert!(actions.down.is_empty() && actions.report.is_empty());
    }

    #[test]
    fn a_report_is_checked_with_a_direct_ping() {
        let start = Instant::now();
        let mut d = detector("z", &["a", "x"], start);
        // Heard from recently: the report is not believed.
        assert_eq!(
            d.reported("x", "a", start + Duration::from_millis(100)),
            None
        );
        let t = start + Duration::from_secs(1);
        assert!(d.tick(start + BEAT).down.is_empty());
        assert_eq!(d.reported("x", "a", t), Some("x".into()));
        assert_eq!(d.reported("x", "a", t), None, "one check at a time");
        assert_eq!(d.tick(t).ping, ["a", "x"], "the check pings x");
        let actions = d.tick(t + BEAT);
        let (node, reason) = &actions.down[0];
        assert_eq!(node, "x");
        assert!(
            reason.ends_with("after a reported it unreachable"),
            "{reason}"
        );
    }

    #[test]
    fn a_paused_node_blames_nobody() {
        let start = Instant::now();
        let mut d = detector("a", &["b", "c"], start);
        // Frozen for ten seconds: the tick comes late.
        let t = start + Duration::from_secs(10);
        let actions = d.tick(t);
        assert_eq!(actions.paused, Some(Duration::from_secs(10)));
        assert!(actions.report.is_empty() && actions.down.is_empty());
        // The clocks started again.
        let actions = d.tick(t + BEAT);
        assert!(actions.report.is_empty() && actions.down.is_empty());
    }

    #[test]
    fn a_late_tick_does_not_count_against_the_members() {
        let start = Instant::now();
        let mut d = detector("a", &["b"], start);
        let mut t = start;
        // Ticks every beat, then one a whole second late: b, silent all
        // along, is reported a second later than it would have been.
        t += BEAT;
        assert!(d.tick(t).report.is_empty());
        t += BEAT + Duration::from_secs(1);
        assert!(d.tick(t).report.is_empty(), "the late second is not b's");
        t += BEAT;
        assert_eq!(d.tick(t).report, ["b"]);
    }

    #[test]
    fn a_member_coming_into_view_gets_a_fresh_clock() {
        let start = Instant::now();
        let mut d = detector("a", &["b", "c", "d", "e"], start);
        // e is not watched (b, c, d are); it is silent for a long time.
        let mut t = start;
        for _ in 0..6 {
            t += BEAT;
            for p in ["b", "c", "d"] {
                d.heard(p, t);
            }
            assert!(d.tick(t).report.is_empty());
        }
        // d leaves: e comes into view, and is not reported at once.
        d.remove("d");
        t += BEAT;
        let actions = d.tick(t);
        assert!(actions.report.is_empty(), "{actions:?}");
        assert!(actions.ping.contains(&"e".to_owned()));
    }
}
