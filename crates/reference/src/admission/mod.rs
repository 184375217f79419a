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

    /// Why the broker refuses a CONNECT by `client` (its client id), if it does: a spent budget
    /// of the account's or of that client id's CONNECTs. Faults select no CONNECT.
    pub fn admit_connect(&self, client: &str) -> Option<Refusal> {
        let now = self.clock.now_ms();
        let quotas = self.quotas.as_ref()?;
        let budget = quotas.admit_connect(client, now).err()?;
        Some(Refusal::Throttled(format!("the {budget} budget is spent")))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A write budget of 2 at one a second, on a clock that does not move within the test.
    fn limits() -> Limits {
        Limits::parse(
            r#"{"service":"t","read":"2026-12-03","buckets":[
            {"name":"write","plane":"data","operations":["UpdateJobExecution"],"perSecond":1,"burst":2,
             "source":{"url":"https://example.com","read":"2026-12-03","note":"test"}}]}"#,
        )
        .expect("a valid limits file")
    }

    fn refusals(gate: &Gate, things: &[&str]) -> Vec<Option<Refusal>> {
        things
            .iter()
            .map(|t| {
                gate.admit(Plane::Data, "UpdateJobExecution", Some(t))
                    .refusal
            })
            .collect()
    }

    #[test]
    fn a_fault_is_decided_first_and_takes_no_token() {
        let faults = Faults::parse(
            "rules: [{operations: [UpdateJobExecution], fault: unavailable, things: 'down-*'}]",
        )
        .expect("a valid faults file");
        let gate = Gate::new(VirtualClock::new(1e-9), Some(faults), Some(&limits()));
        let spent = Refusal::Throttled("the write budget is spent".into());
        assert_eq!(
            refusals(&gate, &["down-1", "up", "down-2", "up", "up", "down-3"]),
            [
                Some(Refusal::Unavailable),
                None,
                Some(Refusal::Unavailable),
                None,
                Some(spent),
                Some(Refusal::Unavailable),
            ]
        );
    }

    #[test]
    fn an_open_gate_refuses_nothing_and_waits_for_nothing() {
        let gate = Gate::new(VirtualClock::new(1e-9), None, None);
        for _ in 0..100 {
            assert_eq!(
                gate.admit(Plane::Data, "UpdateJobExecution", Some("t")),
                Decision::default()
            );
        }
    }
}
