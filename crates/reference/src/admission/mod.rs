//! What a request meets before the engine: injected faults (`--faults`), then the account's
//! quotas (`--quotas`). Both off unless asked for; both read the virtual clock, so a budget or a
//! window means the same at any `--time-scale` and on any machine.

pub mod faults;
pub mod quota;

use std::time::Duration;

use jobcert_contract::{Limits, Plane};

pub use faults::{FaultKind, Faults, FaultsError};
pub use quota::Quotas;

use crate::engine::{VirtualClock, VirtualMillis};

/// Why a request is not served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A ThrottlingException (MQTT: RequestThrottled), and why: a spent budget or an
    /// injected fault.
    Throttled(String),
    /// An injected ServiceUnavailableException.
    Unavailable,
    /// An injected drop: no answer at all.
    Drop,
}

/// What happens to one request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decision {
    /// Real time to wait before answering (an injected delay, scaled by the clock).
    pub delay: Duration,
    /// Why it is not served, if it is not.
    pub refusal: Option<Refusal>,
}

/// The faults and quotas of one server.
#[derive(Debug)]
pub struct Gate {
    clock: VirtualClock,
    started: VirtualMillis,
    faults: Option<Faults>,
    quotas: Option<Quotas>,
}

impl Gate {
    /// A gate on `clock` with `faults` and the budgets of `limits`, each if given.
    pub fn new(clock: VirtualClock, faults: Option<Faults>, limits: Option<&Limits>) -> Self {
        let started = clock.now_ms();
        Self {
            quotas: limits.map(|l| Quotas::new(l, started)),
            clock,
            started,
            faults,
        }
    }

    /// What happens to a request for `operation` of `plane` naming `thing`.
    pub fn admit(&self, plane: Plane, operation: &str, thing: Option<&str>) -> Decision {
        let now = self.clock.now_ms();
        let injected = self
            .faults
            .as_ref()
            .map(|f| {
                f.decide(faults::Request {
                    plane,
                    operation,
                    thing,
                    since_start_ms: now - self.started,
                })
            })
            .unwrap_or_default();
        let refusal = match injected.fault {
            Some(FaultKind::Unavailable) => Some(Refusal::Unavailable),
            Some(FaultKind::Drop) => Some(Refusal::Drop),
            Some(FaultKind::Throttle) => Some(Refusal::Throttled("injected fault".into())),
            Some(FaultKind::Delay) | None => self
                .quotas
                .as_ref()
                .and_then(|q| q.admit(plane, operation, now).err())
                .map(|budget| Refusal::Throttled(format!("the {budget} budget is spent"))),
        };
        let delay = if injected.delay_ms > 0 {
            self.clock.real_until(now + injected.delay_ms)
        } else {
            Duration::ZERO
        };
        Decision { delay, refusal }
    }
}
