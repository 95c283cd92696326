//! Dotted paths (`cluster.heartbeat_ms`, `seeds.0`) into the configuration
//! tree, a [`serde_json::Value`].
//!
//! A segment names a field of an object or, when the node is an array, an
//! index into it. An empty path or an empty segment (`a..b`) finds nothing.

use serde_json::Value;

/// The node at `path`, if there is one.
pub(super) fn find<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(root, |node, segment| {
        if segment.is_empty() {
            return None;
        }
        match node {
            Value::Object(fields) => fields.get(segment),
            Value::Array(items) => items.get(segment.parse::<usize>().ok()?),
            _ => None,
        }
    })
}

/// The node at `path`, mutably, if there is one.
pub(super) fn find_mut<'a>(root: &'a mut Value, path: &str) -> Option<&'a mut Value> {
    path.split('.').try_fold(root, |node, segment| {
        if segment.is_empty() {
            return None;
        }
        match node {
            Value::Object(fields) => fields.get_mut(segment),
            Value::Array(items) => items.get_mut(segment.parse::<usize>().ok()?),
            _ => None,
        }
    })
}

/// Whether `path` is `declared` or lies under it (`pool.size` under `pool`).
pub(super) fn covers(declared: &str, path: &str) -> bool {
    path.strip_prefix(declared)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Value {
        json!({ "pool": { "size": 4, "name": "p" }, "seeds": ["a", "b"] })
    }

    #[test]
    fn finds_fields_and_indices() {
        let tree = sample();
        assert_eq!(find(&tree, "pool.size"), Some(&json!(4)));
        assert_eq!(
            find(&tree, "pool"),
            Some(&json!({ "size": 4, "name": "p" }))
        );
        assert_eq!(find(&tree, "seeds.1"), Some(&json!("b")));
    }

    #[test]
    fn finds_nothing_for_bad_paths() {
        let tree = sample();
        for path in [
            "",
            ".",
            "pool.",
            ".pool",
            "pool..size",
            "pool.missing",
            "pool.size.deeper",
            "seeds.2",
            "seeds.x",
            "nope",
        ] {
            assert_eq!(find(&tree, path), None, "path {path:?}");
        }
    }

    #[test]
    fn find_mut_replaces_in_place() {
        let mut tree = sample();
        *find_mut(&mut tree, "seeds.0").expect("present") = json!("z");
        assert_eq!(find(&tree, "seeds.0"), Some(&json!("z")));
        assert!(find_mut(&mut tree, "pool.missing").is_none());
    }

    #[test]
    fn covers_whole_segments_only() {
        assert!(covers("pool", "pool"));
        assert!(covers("pool", "pool.size"));
        assert!(covers("pool.size", "pool.size"));
        assert!(!covers("pool", "pools"));
        assert!(!covers("pool.size", "pool"));
        assert!(!covers("pool", "other.pool"));
    }
}
