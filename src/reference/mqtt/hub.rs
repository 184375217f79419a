//! Who is connected and what they subscribed to; routes publishes to matching subscriptions.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use tokio::sync::mpsc;

/// What a session is asked to send to its client.
#[derive(Debug, Clone)]
pub enum Outgoing {
    /// A message on a topic at a QoS (0 or 1).
    Publish {
        /// Topic.
        topic: Arc<str>,
        /// Payload.
        payload: Bytes,
        /// QoS to deliver at.
        qos: u8,
    },
}

/// Messages queued for a slow client before further ones are dropped.
pub const QUEUE: usize = 64;

#[derive(Default)]
struct Subscriptions {
    /// Filters without wildcards, by topic.
    exact: HashMap<String, Vec<(u64, u8)>>,
    /// Filters with `+` or `#`.
    wild: Vec<(String, u64, u8)>,
}

/// Whether `topic` matches `filter` (MQTT 3.1.1 §4.7; `$` topics never match a filter that
/// starts with a wildcard).
pub fn matches(topic: &str, filter: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let (mut t, mut f) = (topic.split('/'), filter.split('/'));
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Whether `filter` is a well-formed topic filter.
pub fn valid_filter(filter: &str) -> bool {
    let levels: Vec<&str> = filter.split('/').collect();
    !filter.is_empty()
        && levels.iter().enumerate().all(|(i, l)| match *l {
            "#" => i == levels.len() - 1,
            "+" => true,
            other => !other.contains(['+', '#']),
        })
}

/// Every connected session and its subscriptions.
#[derive(Default)]
pub struct Hub {
    next_id: AtomicU64,
    sessions: Mutex<HashMap<u64, mpsc::Sender<Outgoing>>>,
    clients: Mutex<HashMap<String, u64>>,
    subscriptions: RwLock<Subscriptions>,
}

impl Hub {
    /// Registers a session for `client_id`; a session already using that id is dropped, as
    /// MQTT requires. Returns the session id and its queue.
    pub fn connect(&self, client_id: &str) -> (u64, mpsc::Receiver<Outgoing>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(QUEUE);
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, tx);
        let previous = self
            .clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(client_id.to_string(), id);
        if let Some(old) = previous {
            self.forget(old, None);
        }
        (id, rx)
    }

    /// Removes a session and its subscriptions (and its client id, if still its own).
    pub fn disconnect(&self, id: u64, client_id: &str) {
        self.forget(id, Some(client_id));
    }

    fn forget(&self, id: u64, client_id: Option<&str>) {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        if let Some(c) = client_id {
            let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
            if clients.get(c) == Some(&id) {
                clients.remove(c);
            }
        }
        let mut subs = self
            .subscriptions
            .write()
            .unwrap_or_else(|p| p.into_inner());
        subs.exact.retain(|_, list| {
            list.retain(|(s, _)| *s != id);
            !list.is_empty()
        });
        subs.wild.retain(|(_, s, _)| *s != id);
    }

    /// Adds (or replaces) a subscription.
    pub fn subscribe(&self, id: u64, filter: &str, qos: u8) {
        let mut subs = self
            .subscriptions
            .write()
            .unwrap_or_else(|p| p.into_inner());
        if filter.contains(['+', '#']) {
            subs.wild.retain(|(f, s, _)| !(*s == id && f == filter));
            subs.wild.push((filter.to_string(), id, qos));
        } else {
            let list = subs.exact.entry(filter.to_string()).or_default();
            list.retain(|(s, _)| *s != id);
            list.push((id, qos));
        }
    }

    /// Removes a subscription.
    pub fn unsubscribe(&self, id: u64, filter: &str) {
        let mut subs = self
            .subscriptions
            .write()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(list) = subs.exact.get_mut(filter) {
            list.retain(|(s, _)| *s != id);
        }
        subs.wild.retain(|(f, s, _)| !(*s == id && f == filter));
    }

    /// The highest QoS session `id` subscribed to `topic` with, if any.
    pub fn granted(&self, id: u64, topic: &str) -> Option<u8> {
        self.matching(topic)
            .into_iter()
            .filter(|(s, _)| *s == id)
            .map(|(_, q)| q)
            .max()
    }

    fn matching(&self, topic: &str) -> Vec<(u64, u8)> {
        let subs = self.subscriptions.read().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<(u64, u8)> = subs.exact.get(topic).cloned().unwrap_or_default();
        out.extend(
            subs.wild
                .iter()
                .filter(|(f, _, _)| matches(topic, f))
                .map(|(_, s, q)| (*s, *q)),
        );
        out
    }

    /// Delivers to every matching subscription once, at the lower of its QoS and `qos`.
    /// A client whose queue is full misses the message.
    pub fn publish(&self, topic: &str, payload: Bytes, qos: u8) {
        let mut targets: HashMap<u64, u8> = HashMap::new();
        for (id, q) in self.matching(topic) {
            let e = targets.entry(id).or_insert(0);
            *e = (*e).max(q.min(qos));
        }
        if targets.is_empty() {
            return;
        }
        let topic: Arc<str> = Arc::from(topic);
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        for (id, q) in targets {
            if let Some(tx) = sessions.get(&id) {
                let _ = tx.try_send(Outgoing::Publish {
                    topic: topic.clone(),
                    payload: payload.clone(),
                    qos: q,
                });
            }
        }
    }

    /// Sends to one session only (replies bypass subscriptions, as on AWS).
    pub fn send_to(&self, id: u64, message: Outgoing) {
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = sessions.get(&id) {
            let _ = tx.try_send(message);
        }
    }

    /// Whether anyone subscribed to a filter matching `topic`.
    pub fn has_subscribers(&self, topic: &str) -> bool {
        !self.matching(topic).is_empty()
    }

    /// How many sessions are connected.
    pub fn sessions(&self) -> usize {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_match_as_mqtt_says() {
        assert!(matches("$aws/things/t/jobs/notify", "$aws/things/+/jobs/#"));
        assert!(!matches("$aws/things/t/jobs/notify", "#"));
        assert!(!matches(
            "$aws/things/t/jobs/notify",
            "+/things/t/jobs/notify"
        ));
        assert!(matches("a/b/c", "a/#") && matches("a", "a/#") && matches("a/b", "a/+"));
        assert!(!matches("a/b/c", "a/+"));
        assert!(
            valid_filter("a/+/#")
                && !valid_filter("a/#/b")
                && !valid_filter("a/b+")
                && !valid_filter("")
        );
    }
}
