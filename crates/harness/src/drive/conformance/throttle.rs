//! What a throttle says: its own shape (SN-THROTTLING), and whether the request got through
//! within its attempts (WI-THROTTLED-OUT). One throttled at every attempt is not a broken rule
//! (a quota kept), but its step's checks were skipped, and a certifier must see that rather
//! than silence.

use jobcert_contract::{Binding, ErrorKind, Operation, req};

use crate::check::answer;
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
    let (answer, wire) = answer::read(exchange, operation, binding, profile);
    let broken = wire
        .iter()
        .find(|f| severity(f, profile) == Severity::Failure);
    let throttling = ErrorKind::Throttling.type_name();
    let message = match (answer.error_type(), broken) {
        (Some(t), None) if t == throttling => format!("throttled: {}", answer.describe()),
        (_, Some(f)) => format!("a throttle answered {}: {}", answer.describe(), f.message),
        (_, None) => format!(
            "a throttle answered {}, not {throttling}",
            answer.describe()
        ),
    };
    let ok = broken.is_none() && answer.error_type() == Some(throttling);
    Finding::check(ok, req::SN_THROTTLING, message, Some(exchange.seq))
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
