//! A device's own broker connection as something that can drop and be made again while the
//! device goes on using it: requests go over whichever connection is current, and whoever
//! watches the line learns when it went down, came back, or was given up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::mqtt::{Dial, Heard, MqttDevice};

/// Where a line stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineState {
    /// Not connected yet, or closed by the device.
    Closed,
    /// Connected: the number of connections made so far (1 for the first).
    Up(u64),
    /// Dropped; a new connection may come.
    Down,
    /// Dropped, and no new connection will come.
    Lost,
}

/// One device's broker connection, shared by the device and whoever drops and remakes it.
pub struct Line {
    dial: Dial,
    origin: Instant,
    heard: Option<Heard>,
    current: Mutex<Option<Arc<MqttDevice>>>,
    state: watch::Sender<LineState>,
    made: Mutex<u64>,
    /// Set once the device closes it: a connection made after that is closed at once.
    closed: AtomicBool,
}

impl std::fmt::Debug for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Line")
            .field("state", &*self.state.borrow())
            .finish_non_exhaustive()
    }
}

impl Line {
    /// A line through `dial`, not connected yet; timings count from `origin`, and the
    /// notifications it hears are also kept in `heard` when given.
    pub fn new(dial: Dial, origin: Instant, heard: Option<Heard>) -> Self {
        Self {
            dial,
            origin,
            heard,
            current: Mutex::new(None),
            state: watch::Sender::new(LineState::Closed),
            made: Mutex::new(0),
            closed: AtomicBool::new(false),
        }
    }

    /// How it reaches the broker.
    pub fn dial(&self) -> &Dial {
        &self.dial
    }

    /// The broker's URL.
    pub fn endpoint(&self) -> String {
        self.dial.broker.url()
    }

    /// Connects as `thing` within `timeout` and subscribes; the line is then up.
    pub async fn open(&self, thing: &str, timeout: Duration) -> Result<(), String> {
        let device =
            MqttDevice::connect(&self.dial, thing, self.origin, timeout, self.heard.clone())
                .await?;
        if self.closed.load(Ordering::Acquire) {
            device.close();
            return Err("the device closed its connection meanwhile".into());
        }
        let old = self
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace(Arc::new(device));
        if let Some(old) = old {
            old.close();
        }
        let made = {
            let mut made = self.made.lock().unwrap_or_else(|p| p.into_inner());
            *made += 1;
            *made
        };
        self.state.send_replace(LineState::Up(made));
        Ok(())
    }

    /// The connection now, if it is up.
    pub fn current(&self) -> Option<Arc<MqttDevice>> {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .filter(|d| d.is_connected())
    }

    /// Drops the connection as a network failure does (see [`MqttDevice::sever`]); says
    /// whether there was one to drop.
    pub fn sever(&self) -> bool {
        let Some(device) = self
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        else {
            return false;
        };
        device.sever();
        self.state.send_replace(LineState::Down);
        true
    }

    /// Gives the line up: no connection will come again.
    pub fn lose(&self) {
        self.state.send_replace(LineState::Lost);
    }

    /// Disconnects cleanly.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        if let Some(device) = self
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            device.close();
        }
        self.state.send_replace(LineState::Closed);
    }

    /// Whether the device closed it.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Where the line stands, and every change from now on.
    pub fn watch(&self) -> watch::Receiver<LineState> {
        self.state.subscribe()
    }
}
