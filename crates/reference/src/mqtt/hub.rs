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

/// Subscriptions, indexed so that routing a topic looks at few filters: exact filters by topic,
/// wildcard filters by their literal leading levels, and every filter by session.
#[derive(Default)]
struct Subscriptions {
    exact: HashMap<String, Vec<(u64, u8)>>,
    wild: HashMap<String, Vec<(String, u64, u8)>>,
    by_session: HashMap<u64, Vec<(String, u8)>>,
}

/// The levels of a filter before its first wildcard (`a/b` for `a/b/+/c`; empty for `#`).
fn literal_prefix(filter: &str) -> String {
    filter
        .split('/')
        .take_while(|l| *l != "+" && *l != "#")
        .collect::<Vec<_>>()
        .join("/")
}

impl Subscriptions {
    fn add(&mut self, id: u64, filter: &str, qos: u8) {
        self.remove(id, filter);
        if filter.contains(['+', '#']) {
            self.wild.entry(literal_prefix(filter)).or_default().push((
                filter.to_string(),
                id,
                qos,
            ));
        } else {
            self.exact
                .entry(filter.to_string())
                .or_default()
                .push((id, qos));
        }
        self.by_session
            .entry(id)
            .or_default()
            .push((filter.to_string(), qos));
    }

    fn remove(&mut self, id: u64, filter: &str) {
        if let Some(list) = self.exact.get_mut(filter) {
            list.retain(|(s, _)| *s != id);
            if list.is_empty() {
                self.exact.remove(filter);
            }
        }
        let prefix = literal_prefix(filter);
        if let Some(list) = self.wild.get_mut(&prefix) {
            list.retain(|(f, s, _)| !(*s == id && f == filter));
            if list.is_empty() {
                self.wild.remove(&prefix);
            }
        }
        if let Some(list) = self.by_session.get_mut(&id) {
            list.retain(|(f, _)| f != filter);
        }
    }

    fn forget(&mut self, id: u64) {
        for (filter, _) in self.by_session.remove(&id).unwrap_or_default() {
            self.remove(id, &filter);
        }
    }

    /// Every (session, QoS) whose filter matches `topic`.
    fn matching(&self, topic: &str) -> Vec<(u64, u8)> {
        let mut out: Vec<(u64, u8)> = self.exact.get(topic).cloned().unwrap_or_default();
        let levels: Vec<&str> = topic.split('/').collect();
        for n in 0..=levels.len() {
            if let Some(list) = self.wild.get(&levels[..n].join("/")) {
                out.extend(
                    list.iter()
                        .filter(|(f, _, _)| matches(topic, f))
                        .map(|(_, s, q)| (*s, *q)),
                );
            }
        }
        out
    }

    /// The highest QoS of session `id`'s filters matching `topic`.
    fn granted(&self, id: u64, topic: &str) -> Option<u8> {
        self.by_session
            .get(&id)?
            .iter()
            .filter(|(f, _)| matches(topic, f))
            .map(|(_, q)| *q)
            .max()
    }
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
        self.subscriptions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .forget(id);
    }

    /// Adds (or replaces) a subscription.
    pub fn subscribe(&self, id: u64, filter: &str, qos: u8) {
        self.subscriptions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .add(id, filter, qos);
    }

    /// Removes a subscription.
    pub fn unsubscribe(&self, id: u64, filter: &str) {
        self.subscriptions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id, filter);
    }

    /// The highest QoS session `id` subscribed to `topic` with, if any.
    pub fn granted(&self, id: u64, topic: &str) -> Option<u8> {
        self.subscriptions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .granted(id, topic)
    }

    fn matching(&self, topic: &str) -> Vec<(u64, u8)> {
        self.subscriptions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .matching(topic)
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
    fn routing_finds_exact_and_wildcard_filters_and_forgets_sessions() {
        let mut subs = Subscriptions::default();
        subs.add(1, "$aws/things/a/jobs/#", 1);
        subs.add(2, "$aws/things/+/jobs/notify", 0);
        subs.add(3, "$aws/things/a/jobs/notify", 1);
        subs.add(4, "#", 0);
        let mut hits = subs.matching("$aws/things/a/jobs/notify");
        hits.sort_unstable();
        assert_eq!(
            hits,
            vec![(1, 1), (2, 0), (3, 1)],
            "# never matches a $ topic"
        );
        assert_eq!(subs.matching("plain/topic"), vec![(4, 0)]);
        assert_eq!(
            subs.granted(1, "$aws/things/a/jobs/x/get/accepted"),
            Some(1)
        );
        assert_eq!(subs.granted(2, "$aws/things/a/jobs/x/get/accepted"), None);
        subs.forget(1);
        subs.remove(3, "$aws/things/a/jobs/notify");
        assert_eq!(subs.matching("$aws/things/a/jobs/notify"), vec![(2, 0)]);
        assert!(subs.exact.is_empty() && !subs.by_session.contains_key(&1));
    }

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
