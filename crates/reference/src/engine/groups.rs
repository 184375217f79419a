//! Static thing groups: names, parents and members, as jobs target them.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// One thing group.
#[derive(Debug, Clone)]
pub struct Group {
    /// Id.
    pub id: String,
    /// The parent group, if any.
    pub parent: Option<Arc<str>>,
    /// Member things, in the order they were added.
    pub members: Vec<Arc<str>>,
}

/// Every thing group by name.
#[derive(Debug, Default)]
pub struct Groups {
    map: RwLock<HashMap<Arc<str>, Group>>,
}

impl Groups {
    /// Creates the group (or returns the existing one's id); `None` if `parent` does not exist.
    pub fn create(&self, name: &str, parent: Option<&str>) -> Option<String> {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        if let Some(g) = map.get(name) {
            return Some(g.id.clone());
        }
        let parent = match parent {
            None => None,
            Some(p) => Some(map.get_key_value(p)?.0.clone()),
        };
        let id = uuid::Uuid::new_v4().to_string();
        map.insert(
            Arc::from(name),
            Group {
                id: id.clone(),
                parent,
                members: Vec::new(),
            },
        );
        Some(id)
    }

    /// Whether the group exists.
    pub fn contains(&self, name: &str) -> bool {
        self.read().contains_key(name)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Arc<str>, Group>> {
        self.map.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds `thing` to `group`; false if the group does not exist.
    pub fn add(&self, group: &str, thing: &str) -> bool {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        let Some(g) = map.get_mut(group) else {
            return false;
        };
        if !g.members.iter().any(|m| &**m == thing) {
            g.members.push(Arc::from(thing));
        }
        true
    }

    /// Removes `thing` from `group`; false if the group does not exist.
    pub fn remove(&self, group: &str, thing: &str) -> bool {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        let Some(g) = map.get_mut(group) else {
            return false;
        };
        g.members.retain(|m| &**m != thing);
        true
    }

    /// Removes `thing` from every group (it was deleted).
    pub fn forget(&self, thing: &str) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        for g in map.values_mut() {
            g.members.retain(|m| &**m != thing);
        }
    }

    /// The things of `group` and of its descendants, each once, in the order added.
    pub fn members(&self, group: &str) -> Vec<Arc<str>> {
        let map = self.read();
        let mut out: Vec<Arc<str>> = Vec::new();
        let mut pending = vec![group.to_string()];
        let mut seen = Vec::new();
        while let Some(name) = pending.pop() {
            if seen.contains(&name) {
                continue;
            }
            if let Some(g) = map.get(name.as_str()) {
                for m in &g.members {
                    if !out.contains(m) {
                        out.push(m.clone());
                    }
                }
                pending.extend(
                    map.iter()
                        .filter(|(_, c)| c.parent.as_deref() == Some(name.as_str()))
                        .map(|(n, _)| n.to_string()),
                );
            }
            seen.push(name);
        }
        out
    }

    /// Whether `thing` is in `group` or one of its descendants.
    pub fn includes(&self, group: &str, thing: &str) -> bool {
        self.members(group).iter().any(|m| &**m == thing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_include_descendants_once_in_order() {
        let g = Groups::default();
        assert!(g.create("fleet", None).is_some());
        assert!(g.create("eu", Some("fleet")).is_some());
        assert!(g.create("orphan", Some("missing")).is_none());
        for (group, thing) in [("fleet", "a"), ("eu", "b"), ("eu", "a"), ("fleet", "a")] {
            assert!(g.add(group, thing));
        }
        let names = |v: Vec<Arc<str>>| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(names(g.members("fleet")), ["a", "b"]);
        assert_eq!(names(g.members("eu")), ["b", "a"]);
        assert!(g.remove("eu", "b"));
        assert!(!g.includes("fleet", "b"));
        g.forget("a");
        assert!(g.members("fleet").is_empty());
        assert!(!g.add("nope", "a"));
    }
}
