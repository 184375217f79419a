//! Whether a throttled request got through within its attempts (WI-THROTTLED-OUT). One
//! throttled at every attempt is not a broken rule (a quota kept), but its step's checks were
//! skipped, and a certifier must see that rather than silence.

use jobcert_contract::{Operation, req};

use crate::finding::Finding;
use crate::transport::{Exchange, is_throttle};

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
    use crate::finding::{Profile, Severity, severity};
    use crate::transport::{Label, Outcome, WireRequest, WireResponse};

    /// Exchange `seq` of an Update, answered `status` (429: throttled).
    fn attempt(seq: u64, status: u16) -> Exchange {
        let label = Label {
            seq,
            context: "c",
            operation: "UpdateJobExecution",
        };
        let request = WireRequest {
            transport: "http".into(),
            method: "POST".into(),
            ..WireRequest::publish("h".into(), "/things/t/jobs/j".into(), None)
        };
        let (error_type, body) = match status {
            429 => ("ThrottlingException", r#"{"message":"Rate exceeded"}"#),
            _ => ("", "{}"),
        };
        let response = WireResponse {
            status,
            headers: vec![("x-amzn-ErrorType".into(), error_type.into())],
            body: body.into(),
            truncated: false,
        };
        Exchange::new(label, request, Outcome::Answered(response), 0, 0)
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
}
