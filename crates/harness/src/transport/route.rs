//! Which operation a request seen on the wire is, read from the same `x-http` and `x-mqtt`
//! annotations of the request schemas that [`super::binding`] binds with: the recording proxy
//! and the importers name what they saw without a table of their own.

use jobcert_contract::{Binding, ControlOperation, Operation, Schema};

/// The API a request went to: the two share one path (`GET /things/{t}/jobs/{j}`), so the
/// listener or the host decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plane {
    /// The device API (`data.jobs.iot…`).
    Data,
    /// The control plane (`iot…`).
    Control,
}

/// Whether `path` (no query) fits the URI or topic `template`: a `{label}` takes one
/// non-empty segment, a literal `$next` also its encoded form.
fn fits(template: &str, path: &str) -> bool {
    let (mut want, mut got) = (template.split('/'), path.split('/'));
    loop {
        match (want.next(), got.next()) {
            (None, None) => return true,
            (Some(w), Some(g)) => {
                let ok = if w.starts_with('{') && w.ends_with('}') {
                    !g.is_empty()
                } else {
                    w == g || (w == "$next" && g.eq_ignore_ascii_case("%24next"))
                };
                if !ok {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

fn http_fits(
    schema: Result<&Schema, jobcert_contract::SchemaError>,
    method: &str,
    path: &str,
) -> bool {
    schema
        .ok()
        .and_then(Schema::http_binding)
        .is_some_and(|(m, uri)| m.eq_ignore_ascii_case(method) && fits(uri, path))
}

/// The operation of an HTTP request (`target` is the path, with or without its query).
pub fn http_operation(plane: Plane, method: &str, target: &str) -> Option<&'static str> {
    let path = target.split('?').next().unwrap_or(target);
    match plane {
        Plane::Data => Operation::ALL
            .into_iter()
            .find(|op| http_fits(op.request_schema(), method, path))
            .map(Operation::name),
        Plane::Control => ControlOperation::ALL
            .into_iter()
            .find(|op| http_fits(op.request_schema(), method, path))
            .map(ControlOperation::name),
    }
}

/// The data-plane operation a publish on `topic` requests (`None` for a reply, a
/// notification or any other topic).
pub fn mqtt_operation(topic: &str) -> Option<Operation> {
    Operation::ALL.into_iter().find(|op| {
        op.request_schema_for(Binding::Mqtt)
            .ok()
            .and_then(Schema::mqtt_topic)
            .is_some_and(|t| fits(t, topic))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_named_by_the_schemas_bindings() {
        let cases: &[(Plane, &str, &str, Option<&str>)] = &[
            (
                Plane::Data,
                "PUT",
                "/things/t/jobs/$next",
                Some("StartNextPendingJobExecution"),
            ),
            (
                Plane::Data,
                "PUT",
                "/things/t/jobs/%24next",
                Some("StartNextPendingJobExecution"),
            ),
            (
                Plane::Data,
                "POST",
                "/things/t/jobs/j",
                Some("UpdateJobExecution"),
            ),
            (
                Plane::Data,
                "GET",
                "/things/t/jobs/j?executionNumber=1",
                Some("DescribeJobExecution"),
            ),
            (
                Plane::Data,
                "GET",
                "/things/t/jobs/$next",
                Some("DescribeJobExecution"),
            ),
            (
                Plane::Data,
                "GET",
                "/things/t/jobs",
                Some("GetPendingJobExecutions"),
            ),
            (Plane::Data, "GET", "/things//jobs", None),
            (Plane::Data, "DELETE", "/things/t/jobs/j", None),
            (Plane::Data, "GET", "/favicon.ico", None),
            (Plane::Control, "POST", "/things/t", Some("CreateThing")),
            (Plane::Control, "PUT", "/jobs/j", Some("CreateJob")),
            (Plane::Control, "PUT", "/jobs/j/cancel", Some("CancelJob")),
            (Plane::Control, "GET", "/jobs/j", Some("DescribeJob")),
            (
                Plane::Control,
                "GET",
                "/things/t/jobs/j",
                Some("DescribeJobExecution"),
            ),
            (Plane::Control, "PUT", "/things/t/jobs/$next", None),
        ];
        for (plane, method, target, want) in cases {
            assert_eq!(
                http_operation(*plane, method, target),
                *want,
                "{method} {target}"
            );
        }
    }

    #[test]
    fn publishes_are_named_by_their_topic_and_replies_are_not_requests() {
        let cases: &[(&str, Option<Operation>)] = &[
            (
                "$aws/things/t/jobs/start-next",
                Some(Operation::StartNextPendingJobExecution),
            ),
            (
                "$aws/things/t/jobs/j/update",
                Some(Operation::UpdateJobExecution),
            ),
            (
                "$aws/things/t/jobs/$next/get",
                Some(Operation::DescribeJobExecution),
            ),
            (
                "$aws/things/t/jobs/get",
                Some(Operation::GetPendingJobExecutions),
            ),
            ("$aws/things/t/jobs/start-next/accepted", None),
            ("$aws/things/t/jobs/notify-next", None),
            ("sensors/t", None),
        ];
        for (topic, want) in cases {
            assert_eq!(mqtt_operation(topic), *want, "{topic}");
        }
    }
}
