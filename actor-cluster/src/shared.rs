//! One copy of each list that many names carry alike: the tags an actor
//! type answers, the groups of an agent kind, the labels of agents in the
//! same state, the name of the node that holds them. A node holding a
//! hundred thousand names of one kind keeps one of each, not a hundred
//! thousand.
//!
//! Process-wide, as the values are immutable and the same on every node
//! of a process. A value no name holds any more is forgotten when the
//! set has doubled since it was last swept, so lists that change (labels
//! carrying a time) do not pile up; the four an interner found or took
//! last stay until others take their place.

use foldhash::HashSet;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use litemap::LiteMap;

/// The values in use, each once.
struct Interner<T: ?Sized> {
    set: HashSet<Arc<T>>,
    /// The size at which the set is next swept.
    sweep_at: usize,
    /// The four values last found in the set or taken into it, first in
    /// first out: names registered in a batch mostly carry the same few
    /// lists (the tags their actor answers, its groups), already shared.
    /// They stay alive until replaced.
    recent: [Option<Arc<T>>; RECENT],
    /// The slot of `recent` a new value takes.
    next: usize,
}

/// How many values an interner answers without hashing.
const RECENT: usize = 4;

/// The fewest values a set holds before it is swept.
const SWEEP_FLOOR: usize = 64;

impl<T: ?Sized + Eq + Hash> Interner<T> {
    fn new() -> Self {
        Self {
            set: HashSet::default(),
            sweep_at: SWEEP_FLOOR,
            recent: Default::default(),
            next: 0,
        }
    }

    /// The one copy of `value`, if there is one.
    fn find(&mut self, value: &T) -> Option<Arc<T>> {
        // By address first: mostly the one copy itself, given back.
        let recent = self.recent.iter().flatten();
        if let Some(shared) = recent
            .clone()
            .find(|r| std::ptr::eq(Arc::as_ptr(r), value))
            .or_else(|| recent.clone().find(|r| ***r == *value))
        {
            return Some(Arc::clone(shared));
        }
        let shared = Arc::clone(self.set.get(value)?);
        self.remember(&shared);
        Some(shared)
    }

    /// Keeps `value` among the recent ones, in place of the oldest.
    fn remember(&mut self, value: &Arc<T>) {
        self.recent[self.next] = Some(Arc::clone(value));
        self.next = (self.next + 1) % RECENT;
    }

    /// The one copy of `value`.
    fn share(&mut self, value: Arc<T>) -> Arc<T> {
        if let Some(shared) = self.find(&value) {
            return shared;
        }
        self.remember(&value);
        self.set.insert(Arc::clone(&value));
        if self.set.len() > self.sweep_at {
            // Held here alone: no name carries it any more.
            self.set.retain(|v| Arc::strong_count(v) > 1);
            self.sweep_at = (self.set.len() * 2).max(SWEEP_FLOOR);
        }
        value
    }
}

/// `interner`, locked.
fn lock<T: ?Sized + Eq + Hash>(
    interner: &'static OnceLock<Mutex<Interner<T>>>,
) -> MutexGuard<'static, Interner<T>> {
    interner
        .get_or_init(|| Mutex::new(Interner::new()))
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// The one copy of `interner`'s `value`.
fn share<T: ?Sized + Eq + Hash>(
    interner: &'static OnceLock<Mutex<Interner<T>>>,
    value: Arc<T>,
) -> Arc<T> {
    lock(interner).share(value)
}

/// The one copy of a list of strings (tags or groups).
pub(crate) fn list(value: Arc<[String]>) -> Arc<[String]> {
    static LISTS: OnceLock<Mutex<Interner<[String]>>> = OnceLock::new();
    share(&LISTS, value)
}

/// The one copy of a list of strings given item by item.
pub(crate) fn list_of(items: impl IntoIterator<Item = impl Into<String>>) -> Arc<[String]> {
    list(items.into_iter().map(Into::into).collect())
}

/// The one copy of a node's name (which every claim of its names carries).
pub(crate) fn node(name: &str) -> Arc<str> {
    static NODES: OnceLock<Mutex<Interner<str>>> = OnceLock::new();
    let mut nodes = lock(&NODES);
    // Allocated only the first time: every claim a node receives asks.
    nodes
        .find(name)
        .unwrap_or_else(|| nodes.share(Arc::from(name)))
}

/// The one copy of a set of labels.
pub(crate) fn labels(value: Arc<LiteMap<String, String>>) -> Arc<LiteMap<String, String>> {
    static LABELS: OnceLock<Mutex<Interner<LiteMap<String, String>>>> = OnceLock::new();
    share(&LABELS, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_share_one_copy() {
        let a = list_of(["agents", "capability:x"]);
        let b = list_of(["agents".to_owned(), "capability:x".to_owned()]);
        assert!(Arc::ptr_eq(&a, &b));
        let c = list_of(["agents"]);
        assert!(!Arc::ptr_eq(&a, &c));
        let (n1, n2) = (node("n1"), node(&String::from("n1")));
        assert!(Arc::ptr_eq(&n1, &n2));
        // The last asked for, given back or equal, and an older one.
        assert!(Arc::ptr_eq(&list(Arc::clone(&c)), &c));
        assert!(Arc::ptr_eq(&list_of(["agents"]), &c));
        assert!(Arc::ptr_eq(&list_of(["agents", "capability:x"]), &a));
        let other = node("n-other");
        assert!(!Arc::ptr_eq(&other, &n1));
        assert!(Arc::ptr_eq(&node("n1"), &n1));
    }

    #[test]
    fn values_no_one_holds_are_swept() {
        let mut interner = Interner::<str>::new();
        let kept = interner.share(Arc::from("kept"));
        for i in 0..10 * SWEEP_FLOOR {
            drop(interner.share(Arc::from(format!("gone-{i}"))));
        }
        assert!(interner.set.len() <= 2 * SWEEP_FLOOR + 1);
        let again = interner.share(Arc::from("kept"));
        assert!(Arc::ptr_eq(&kept, &again));
    }
}
