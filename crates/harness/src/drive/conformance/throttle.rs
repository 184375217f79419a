//! What a throttle says: its own shape (SN-THROTTLING), and whether the request got through
//! within its attempts (WI-THROTTLED-OUT). One throttled at every attempt is not a broken rule
//! (a quota kept), but its step's checks were skipped, and a certifier must see that rather
//! than silence. A service fault is alike: its shape is SN-UNAVAILABLE's, and a request it
//! answered unasked was not judged (WI-UNAVAILABLE), for every operation lists the fault.

use jobcert_contract::{Binding, ErrorKind, Operation, req};

use crate::check::answer::{self, Answer};
use crate::finding::{Finding, Profile, Severity, severity};
use crate::transport::{Exchange, is_throttle};

/// The SN-THROTTLING finding of a throttled exchange: the throttle names ThrottlingException
/// and breaks no must-level wire check (status, type) under `profile`.
pub(super) fn throttle_shape(
    exchange: &Exchange,
    operation: Operation,
    binding: Binding,
    profile: Profile,
) -> Finding {
    shape(exchange, operation, binding, profile, Fault::Throttle)
}

/// The kinds of answer that are the service's rather than the operation's.
#[derive(Debug, Clone, Copy)]
enum Fault {
    Throttle,
    Unavailable,
}

impl Fault {
    fn kind(self) -> ErrorKind {
        match self {
            Self::Throttle => ErrorKind::Throttling,
            Self::Unavailable => ErrorKind::ServiceUnavailable,
        }
    }

    fn requirement(self) -> jobcert_contract::RequirementId {
        match self {
            Self::Throttle => req::SN_THROTTLING,
            Self::Unavailable => req::SN_UNAVAILABLE,
        }
    }

    fn words(self) -> (&'static str, &'static str) {
        match self {
            Self::Throttle => ("throttled", "a throttle"),
            Self::Unavailable => ("unavailable", "a service fault"),
        }
    }
}

/// The finding of `fault`'s requirement: the answer names the fault's error type and breaks
/// no must-level wire check (status, type) under `profile`.
fn shape(
    exchange: &Exchange,
    operation: Operation,
    binding: Binding,
    profile: Profile,
    fault: Fault,
) -> Finding {
    let (answer, wire) = answer::read(exchange, operation, binding, profile);
    let broken = wire
        .iter()
        .find(|f| severity(f, profile) == Severity::Failure);
    let wanted = fault.kind().type_name();
    let (adjective, noun) = fault.words();
    let message = match (answer.error_type(), broken) {
        (Some(t), None) if t == wanted => format!("{adjective}: {}", answer.describe()),
        (_, Some(f)) => format!("{noun} answered {}: {}", answer.describe(), f.message),
        (_, None) => format!("{noun} answered {}, not {wanted}", answer.describe()),
    };
    let ok = broken.is_none() && answer.error_type() == Some(wanted);
    Finding::check(ok, fault.requirement(), message, Some(exchange.seq))
}

/// Whether `answer` is a service fault: status 503, or the type ServiceUnavailableException
/// (over MQTT, the rejected code `errors.json` maps to it).
pub(super) fn is_unavailable(answer: &Answer) -> bool {
    let unavailable = ErrorKind::ServiceUnavailable;
    match answer {
        Answer::Error {
            status, type_name, ..
        } => {
            *status == jobcert_contract::error_status(unavailable)
                || type_name.as_deref() == Some(unavailable.type_name())
        }
        _ => false,
    }
}

/// The findings of a request answered with a service fault: its shape (SN-UNAVAILABLE), and
/// whether its step asked for it (`expected`); one unasked was not judged (WI-UNAVAILABLE, a
/// should: every operation lists the fault, so it breaks no must).
pub(super) fn unavailable(
    exchange: &Exchange,
    operation: Operation,
    binding: Binding,
    profile: Profile,
    expected: bool,
) -> [Finding; 2] {
    let shape = shape(exchange, operation, binding, profile, Fault::Unavailable);
    let message = if expected {
        format!(
            "{} answered the service fault its step asked for",
            operation.name()
        )
    } else {
        format!(
            "{} was answered with a service fault (#{}); its checks and the case's later steps were skipped",
            operation.name(),
            exchange.seq
        )
    };
    let out = Finding::check(expected, req::WI_UNAVAILABLE, message, Some(exchange.seq));
    [shape, out]
}

/// The WI-THROTTLED-OUT finding of a request whose attempts were `attempts`, in order, the
/// last one throttled or not; none when it was answered at its first attempt.
pub(super) fn throttled_out(operation: Operation, attempts: &[Exchange]) -> Option<Finding> {
    let last = attempts.last()?;
    let out = is_throttle(last);
    if attempts.len() == 1 && !out {
        return None;
    }
    let mut request = operation.name().to_string();
    for part in [&last.request.method, &last.request.target] {
        if !part.is_empty() {
            request.push(' ');
            request.push_str(part);
        }
    }
    let seqs: Vec<String> = attempts.iter().map(|e| format!("#{}", e.seq)).collect();
    let (n, seqs) = (attempts.len(), seqs.join(", "));
    let message = if out {
        format!("{request} was throttled at all {n} attempts ({seqs}); its checks were skipped")
    } else {
        format!("{request} was answered at attempt {n} ({seqs})")
    };
    Some(Finding::check(
        !out,
        req::WI_THROTTLED_OUT,
        message,
        Some(last.seq),
    ))
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;
    use crate::transport::{Label, Outcome, WireRequest, WireResponse};

    /// Exchange `seq` of `operation` to `target`, answered `status` with `error_type` and `body`.
    fn answered(
        seq: u64,
        operation: &str,
        target: &str,
        status: u16,
        error_type: &str,
        body: &str,
    ) -> Exchange {
        let label = Label {
            seq,
            context: "c",
            operation,
        };
        let request = WireRequest {
            transport: "http".into(),
            method: "POST".into(),
            ..WireRequest::publish("h".into(), target.into(), None)
        };
        let response = WireResponse {
            status,
            headers: vec![("x-amzn-ErrorType".into(), error_type.into())],
            body: body.into(),
            truncated: false,
        };
        Exchange::new(label, request, Outcome::Answered(response), 0, 0)
    }

    /// Exchange `seq` of an Update, answered `status` (429: throttled).
    fn attempt(seq: u64, status: u16) -> Exchange {
        let (error_type, body) = match status {
            429 => ("ThrottlingException", r#"{"message":"Rate exceeded"}"#),
            _ => ("", "{}"),
        };
        answered(
            seq,
            "UpdateJobExecution",
            "/things/t/jobs/j",
            status,
            error_type,
            body,
        )
    }

    #[rstest]
    #[case::at_once(&[200], None)]
    #[case::after_a_retry(&[429, 200], Some((true, "UpdateJobExecution POST /things/t/jobs/j was answered at attempt 2 (#1, #2)")))]
    #[case::throttled_out(&[429, 429, 429], Some((false, "UpdateJobExecution POST /things/t/jobs/j was throttled at all 3 attempts (#1, #2, #3); its checks were skipped")))]
    fn a_request_throttled_at_every_attempt_is_named(
        #[case] statuses: &[u16],
        #[case] expected: Option<(bool, &str)>,
    ) {
        let attempts: Vec<Exchange> = (1..)
            .zip(statuses)
            .map(|(seq, status)| attempt(seq, *status))
            .collect();
        let found = throttled_out(Operation::UpdateJobExecution, &attempts);
        assert_eq!(
            found.as_ref().map(|f| (f.passed, f.message.as_str())),
            expected
        );
        if let Some(f) = found {
            assert_eq!(f.exchange, Some(statuses.len() as u64));
            let weight = if f.passed {
                Severity::Pass
            } else {
                Severity::Warning
            };
            for profile in [Profile::Aws, Profile::Strict] {
                assert_eq!(severity(&f, profile), weight);
            }
        }
    }

    #[rstest]
    #[case::as_modelled(503, "ServiceUnavailableException", true, true)]
    #[case::status_only(503, "", true, false)]
    #[case::type_only(500, "ServiceUnavailableException", true, false)]
    #[case::another_server_error(500, "InternalFailure", false, false)]
    #[case::a_throttle(429, "ThrottlingException", false, false)]
    fn a_service_fault_is_judged_under_sn_unavailable(
        #[case] status: u16,
        #[case] error_type: &str,
        #[case] is_fault: bool,
        #[case] well_formed: bool,
    ) {
        let exchange = answered(
            9,
            "UpdateJobExecution",
            "t",
            status,
            error_type,
            r#"{"message":"down"}"#,
        );
        let op = Operation::UpdateJobExecution;
        let (answer, _) = answer::read(&exchange, op, Binding::Http, Profile::Aws);
        assert_eq!(is_unavailable(&answer), is_fault, "{}", answer.describe());
        if !is_fault {
            return;
        }
        for expected in [true, false] {
            let [shape, out] = unavailable(&exchange, op, Binding::Http, Profile::Aws, expected);
            assert_eq!(shape.requirement, req::SN_UNAVAILABLE);
            assert_eq!(shape.passed, well_formed, "{}", shape.message);
            assert_eq!(out.requirement, req::WI_UNAVAILABLE);
            assert_eq!(out.passed, expected, "{}", out.message);
            assert_eq!(out.exchange, Some(9));
            let weight = if expected {
                Severity::Pass
            } else {
                Severity::Warning
            };
            assert_eq!(severity(&out, Profile::Aws), weight);
        }
    }

    #[rstest]
    #[case::as_modelled(429, "ThrottlingException", Profile::Aws, true)]
    #[case::as_also_seen(400, "ThrottlingException", Profile::Aws, true)]
    #[case::also_seen_is_strictly_wrong(400, "ThrottlingException", Profile::Strict, false)]
    #[case::another_type(429, "LimitExceededException", Profile::Aws, false)]
    #[case::a_modelled_but_wrong_type(429, "InvalidRequestException", Profile::Aws, false)]
    fn a_throttle_is_judged_only_under_sn_throttling(
        #[case] status: u16,
        #[case] error_type: &str,
        #[case] profile: Profile,
        #[case] passed: bool,
    ) {
        let body = r#"{"message":"Rate exceeded"}"#;
        let exchange = answered(7, "DescribeJobExecution", "t", status, error_type, body);
        let f = throttle_shape(
            &exchange,
            Operation::DescribeJobExecution,
            Binding::Http,
            profile,
        );
        assert_eq!(f.requirement, req::SN_THROTTLING);
        assert_eq!(f.exchange, Some(7));
        assert_eq!(f.passed, passed, "{}", f.message);
    }
}
