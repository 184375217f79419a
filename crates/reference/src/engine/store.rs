//! Per-thing state behind sharded locks: requests for different things rarely contend.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, MutexGuard};

use super::thing::ThingState;

const SHARDS: usize = 64;

type Shard = HashMap<Arc<str>, ThingState>;

/// Things by name, split over independently locked shards.
#[derive(Debug)]
pub struct Store {
    hasher: RandomState,
    shards: Box<[Mutex<Shard>]>,
}

impl Store {
    pub(super) fn new() -> Self {
        Self {
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    fn shard(&self, name: &str) -> MutexGuard<'_, Shard> {
        let i = (self.hasher.hash_one(name) as usize) % SHARDS;
        // A panic while holding a shard leaves plain data behind; keep serving it.
        self.shards[i]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` on the thing named `name`, or on `None` if it does not exist.
    pub(super) fn with<R>(&self, name: &str, f: impl FnOnce(Option<&mut ThingState>) -> R) -> R {
        f(self.shard(name).get_mut(name))
    }

    /// Runs `f` on the thing named `name`, creating it first if needed.
    pub(super) fn with_or_create<R>(&self, name: &str, f: impl FnOnce(&mut ThingState) -> R) -> R {
        let mut shard = self.shard(name);
        let thing = shard
            .entry(Arc::from(name))
            .or_insert_with_key(|k| ThingState::new(k.clone()));
        f(thing)
    }

    /// Removes the thing named `name`, returning it.
    pub(super) fn remove(&self, name: &str) -> Option<ThingState> {
        self.shard(name).remove(name)
    }

    /// Whether a thing exists.
    pub(super) fn contains(&self, name: &str) -> bool {
        self.shard(name).contains_key(name)
    }
}
