//! What a failed seeding call says: what was sent, what came back, and the likely cause.

use super::ControlError;
use crate::transport::HOW_TO_SIGN;
use crate::transport::target::{Target, ThingArn};
use jobcert_contract::ErrorKind;

/// Thing ARNs a seeding failure lists before it says how many more there were.
const ARNS_SHOWN: usize = 3;

/// Statuses a control plane does not answer to a well-formed request it received, but a
/// service that wants a signature (or another service, picked by the signature's scope) does.
const SIGNING_STATUSES: [u16; 3] = [401, 403, 405];

/// Error types of a refused or missing signature, or of another service (S3's among them).
const SIGNING_ERRORS: [&str; 10] = [
    "MissingAuthenticationToken",
    "MissingAuthenticationTokenException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "IncompleteSignature",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "AccessDenied",
    "AccessDeniedException",
    "MethodNotAllowed",
];

/// A seeding call, as the message about its failure names it.
#[derive(Debug, Clone, Copy)]
pub enum Seeding<'a> {
    /// CreateThing of the thing of this name.
    CreateThing(&'a str),
    /// CreateJob of the job of this id, targeting these things.
    CreateJob(&'a str, &'a [ThingArn]),
    /// CreateThingGroup of the group of this name.
    CreateThingGroup(&'a str),
    /// AddThingToThingGroup of this thing to this group.
    AddThingToThingGroup(&'a str, &'a str),
    /// CreateJob of the job of this id, targeting these thing-group ARNs.
    CreateGroupJob(&'a str, &'a [String]),
}

impl ControlError {
    /// Why seeding stopped, to act on: what was `sent` to `target`'s control plane, what came
    /// back, and the likely cause. Seeding fails on a target's setup far more often than on
    /// its conformance, so the message must tell the two apart.
    pub fn explain(&self, sent: Seeding<'_>, target: &Target) -> String {
        let what = match sent {
            Seeding::CreateThing(name) => format!("CreateThing of thing {name}"),
            Seeding::CreateJob(id, arns) => {
                format!("CreateJob of job {id} targeting {}", listed(arns))
            }
            Seeding::CreateThingGroup(name) => format!("CreateThingGroup of group {name}"),
            Seeding::AddThingToThingGroup(thing, group) => {
                format!("AddThingToThingGroup of thing {thing} to group {group}")
            }
            Seeding::CreateGroupJob(id, arns) => {
                format!("CreateJob of job {id} targeting {}", arns.join(", "))
            }
        };
        format!(
            "{what} at {}: {}. Likely cause: {}",
            target.control.base,
            self.came_back(),
            self.cause(sent, target)
        )
    }

    /// What came back: status, error type and message, or why nothing did.
    fn came_back(&self) -> String {
        match self {
            Self::Refused {
                status,
                error_type,
                message,
                body,
                ..
            } => {
                let kind = error_type.as_deref().unwrap_or("(no error type)");
                match message {
                    Some(m) => format!("answered {status} {kind}: {m}"),
                    None if body.is_empty() => format!("answered {status} {kind}"),
                    None => format!("answered {status} {kind}, body {body}"),
                }
            }
            Self::Timeout { deadline_ms, .. } => format!("no answer within {deadline_ms} ms"),
            Self::Failed { message, .. } => format!("the request failed: {message}"),
            Self::Unbuildable(why) => format!("the request could not be built: {why}"),
        }
    }

    /// The likely cause; when the requests went out unsigned it says so, and first of all
    /// when the answer looks like one to an unsigned request.
    fn cause(&self, sent: Seeding<'_>, target: &Target) -> String {
        let cause = self.cause_if_signed(sent, target);
        // A throttle or a full account is an answer to a caller the target accepted.
        if !target.unsigned()
            || !matches!(self, Self::Refused { .. })
            || self.throttled()
            || self.limit_exceeded()
        {
            return cause;
        }
        match self.unsigned_evidence() {
            Some(evidence) => format!(
                "the requests went out unsigned (no AWS credentials in the environment or the \
                 shared credentials file), and {evidence}: a target that picks the service, or checks the caller, by the SigV4 \
                 signature answers so; to sign, {HOW_TO_SIGN}"
            ),
            None => format!(
                "{cause}; note that the requests went out unsigned (no AWS credentials in the \
                 environment or the shared credentials file): if the target needs SigV4, {HOW_TO_SIGN}"
            ),
        }
    }

    /// What in a refusal points at a missing signature: a status or error type of a refused
    /// caller or of another service, or a body that is not JSON (S3 answers XML).
    fn unsigned_evidence(&self) -> Option<String> {
        let Self::Refused {
            status,
            error_type,
            body,
            ..
        } = self
        else {
            return None;
        };
        if let Some(t) = error_type.as_deref().filter(|t| SIGNING_ERRORS.contains(t)) {
            Some(format!("the answer is {status} {t}"))
        } else if body.trim_start().starts_with('<') {
            Some(format!("the answer is {status} with an XML body, not JSON"))
        } else if SIGNING_STATUSES.contains(status) {
            Some(format!("the answer is {status}"))
        } else {
            None
        }
    }

    /// Whether the target throttled the call at every attempt: 429, or ThrottlingException.
    fn throttled(&self) -> bool {
        matches!(self, Self::Refused { status, error_type, .. }
            if *status == 429 || error_type.as_deref() == Some(ErrorKind::Throttling.type_name()))
    }

    /// Whether the target refused the call for a bound on its account's resources.
    fn limit_exceeded(&self) -> bool {
        matches!(self, Self::Refused { error_type: Some(t), .. }
            if t == ErrorKind::LimitExceeded.type_name())
    }

    /// Whether the target refused the signature for its time (AWS's words, spec §2.1).
    fn skewed(&self) -> bool {
        matches!(self, Self::Refused { message: Some(m), .. }
            if m.starts_with("Signature expired") || m.starts_with("Signature not yet current"))
    }

    /// The likely cause of a failure of a request the target could authenticate.
    fn cause_if_signed(&self, sent: Seeding<'_>, target: &Target) -> String {
        let guessed = format!(
            "--region {} and --account-id {}",
            target.region, target.account_id
        );
        let status = match self {
            Self::Refused { status, .. } => *status,
            Self::Timeout { .. } => {
                return "the control plane is slow or not there; check its URL and the request \
                        deadline"
                    .into();
            }
            Self::Failed { message, .. } if message.contains("certificate") => {
                return "the TLS handshake failed on a certificate: the server's is not trusted \
                        (give its CA with --ca, or --insecure) or the client's was refused"
                    .into();
            }
            Self::Failed { .. } => {
                return "nothing answers as a control plane at that URL; check it".into();
            }
            Self::Unbuildable(_) => {
                return "the seeding input does not fit the operation's request schema".into();
            }
        };
        if self.throttled() {
            return "the target throttled it at every attempt of the SDKs' standard retry: \
                    keep the run under its quota with --rate, or lower --concurrency"
                .into();
        }
        if self.limit_exceeded() {
            return "the target holds as many jobs in progress as the account may (AWS's \
                    active-jobs limit, answered LimitExceededException): cancel the jobs \
                    earlier runs left in progress, lower --concurrency, or raise the limit"
                .into();
        }
        match (status, sent) {
            (404, Seeding::CreateJob(_, arns)) => {
                let returned = arns.iter().filter(|a| a.returned).count();
                if returned == arns.len() {
                    "the target does not know these thing ARNs, though it returned them from \
                     CreateThing"
                        .into()
                } else if returned == 0 {
                    format!(
                        "the target returned no thingArn from CreateThing, so these ARNs were \
                         made from {guessed}, and it files its things elsewhere: check \
                         --account-id/--region"
                    )
                } else {
                    format!(
                        "the target does not know these thing ARNs; it returned {returned} of \
                         them from CreateThing, the rest were made from {guessed}: check \
                         --account-id/--region"
                    )
                }
            }
            (404, Seeding::CreateGroupJob(..)) => {
                "the target does not know these thing-group ARNs, though it returned them from \
                 CreateThingGroup"
                    .into()
            }
            (404, Seeding::AddThingToThingGroup(..)) => {
                "the target does not know the thing or the group it created just before".into()
            }
            (401 | 403, _) if self.skewed() => "the target says the request time is off by \
                                                 more than 5 minutes: check this machine's clock"
                .into(),
            (401 | 403, _) => format!(
                "the target refused the request's credentials or signature; check the \
                 credentials in the environment or the shared credentials file, and --region {}",
                target.region
            ),
            (409, _) => "it exists already with other attributes; was this run id used before \
                         on this target?"
                .into(),
            (500.., _) => "the target failed while seeding; see its own logs".into(),
            _ => "the target does not take the request as the harness sends it (the \
                  control-plane subset of the spec)"
                .into(),
        }
    }
}

/// The first [`ARNS_SHOWN`] ARNs, how many more there are, and where they came from.
fn listed(arns: &[ThingArn]) -> String {
    let mut text = arns
        .iter()
        .take(ARNS_SHOWN)
        .map(|a| a.arn.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if arns.len() > ARNS_SHOWN {
        text.push_str(&format!(" and {} more", arns.len() - ARNS_SHOWN));
    }
    let returned = arns.iter().filter(|a| a.returned).count();
    let origin = if returned == arns.len() {
        "as CreateThing returned them".to_string()
    } else if returned == 0 {
        "made from --region and --account-id: CreateThing returned no thingArn".to_string()
    } else {
        format!(
            "{returned} as CreateThing returned them, {} made from --region and --account-id",
            arns.len() - returned
        )
    };
    format!("{text} ({origin})")
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    /// A foreign target, reached with credentials when `signed`.
    fn target(signed: bool) -> Target {
        let signer = crate::transport::Signer::new(
            "AKIDEXAMPLE".into(),
            "SECRETKEY".into(),
            None,
            "us-east-1",
        );
        Target {
            data: crate::transport::DataPlane::parse("http://127.0.0.1:1").unwrap(),
            control: crate::transport::target::control_plane("http://127.0.0.1:2").unwrap(),
            time_scale: 1.0,
            signer: signed.then_some(signer),
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
            embedded: false,
            tls: Default::default(),
        }
    }

    fn seeding_target() -> Target {
        target(true)
    }

    fn arn(account: &str, name: &str, returned: bool) -> ThingArn {
        ThingArn {
            arn: format!("arn:aws:iot:us-east-1:{account}:thing/{name}"),
            returned,
        }
    }

    fn not_found() -> ControlError {
        ControlError::Refused {
            operation: "CreateJob",
            status: 404,
            error_type: Some("ResourceNotFoundException".into()),
            message: Some("Thing t-1 cannot be found".into()),
            body: String::new(),
        }
    }

    #[rstest]
    #[case::returned(
        vec![arn("000000000000", "t-1", true)],
        &[
            "CreateJob of job j-1 targeting arn:aws:iot:us-east-1:000000000000:thing/t-1 (as CreateThing returned them)",
            "at http://127.0.0.1:2",
            "answered 404 ResourceNotFoundException: Thing t-1 cannot be found",
            "Likely cause: the target does not know these thing ARNs, though it returned them from CreateThing",
        ],
        &["--account-id 123456789012"],
    )]
    #[case::made(
        vec![arn("123456789012", "t-1", false), arn("123456789012", "t-2", false)],
        &[
            "targeting arn:aws:iot:us-east-1:123456789012:thing/t-1, arn:aws:iot:us-east-1:123456789012:thing/t-2 (made from --region and --account-id: CreateThing returned no thingArn)",
            "answered 404 ResourceNotFoundException: Thing t-1 cannot be found",
            "returned no thingArn from CreateThing",
            "made from --region us-east-1 and --account-id 123456789012",
            "check --account-id/--region",
        ],
        &["though it returned them"],
    )]
    #[case::mixed(
        vec![arn("0", "a", true), arn("1", "b", false), arn("0", "c", true), arn("0", "d", true)],
        &[
            "thing/a, arn:aws:iot:us-east-1:1:thing/b, arn:aws:iot:us-east-1:0:thing/c and 1 more (3 as CreateThing returned them, 1 made from --region and --account-id)",
            "it returned 3 of them from CreateThing",
            "check --account-id/--region",
        ],
        &["thing/d"],
    )]
    fn a_failed_create_job_says_what_was_sent_what_came_back_and_why(
        #[case] targets: Vec<ThingArn>,
        #[case] says: &[&str],
        #[case] does_not_say: &[&str],
    ) {
        let text = not_found().explain(Seeding::CreateJob("j-1", &targets), &seeding_target());
        for part in says {
            assert!(text.contains(part), "{part:?} missing from: {text}");
        }
        for part in does_not_say {
            assert!(!text.contains(part), "{part:?} in: {text}");
        }
    }

    #[rstest]
    #[case(ControlError::Refused { operation: "CreateThing", status: 403, error_type: None, message: None, body: "no".into() }, "answered 403 (no error type), body no. Likely cause: the target refused the request's credentials")]
    #[case(ControlError::Refused { operation: "CreateThing", status: 403, error_type: Some("InvalidSignatureException".into()), message: Some("Signature expired: 20261203T140000Z is now earlier than 20261203T141000Z (20261203T141500Z - 5 min.)".into()), body: String::new() }, "Likely cause: the target says the request time is off by more than 5 minutes: check this machine's clock")]
    #[case(ControlError::Refused { operation: "CreateThing", status: 409, error_type: Some("ResourceAlreadyExistsException".into()), message: None, body: String::new() }, "answered 409 ResourceAlreadyExistsException. Likely cause: it exists already")]
    #[case(ControlError::Refused { operation: "CreateThing", status: 503, error_type: None, message: Some("down".into()), body: String::new() }, "answered 503 (no error type): down. Likely cause: the target failed")]
    #[case(ControlError::Refused { operation: "CreateThing", status: 429, error_type: Some("ThrottlingException".into()), message: Some("Rate exceeded".into()), body: String::new() }, "answered 429 ThrottlingException: Rate exceeded. Likely cause: the target throttled it at every attempt")]
    #[case(ControlError::Refused { operation: "CreateThing", status: 400, error_type: Some("InvalidRequestException".into()), message: None, body: String::new() }, "Likely cause: the target does not take the request as the harness sends it")]
    #[case(ControlError::Refused { operation: "CreateJob", status: 410, error_type: Some("LimitExceededException".into()), message: Some("100 snapshot jobs are in progress".into()), body: String::new() }, "answered 410 LimitExceededException: 100 snapshot jobs are in progress. Likely cause: the target holds as many jobs in progress as the account may")]
    #[case(ControlError::Timeout { operation: "CreateThing", deadline_ms: 50 }, "no answer within 50 ms. Likely cause: the control plane is slow or not there")]
    #[case(ControlError::Failed { operation: "CreateThing", message: "refused".into() }, "the request failed: refused. Likely cause: nothing answers as a control plane")]
    #[case(ControlError::Failed { operation: "CreateThing", message: "client error (Connect): invalid peer certificate: UnknownIssuer".into() }, "invalid peer certificate: UnknownIssuer. Likely cause: the TLS handshake failed on a certificate: the server's is not trusted (give its CA with --ca, or --insecure)")]
    #[case(ControlError::Unbuildable("bad".into()), "the request could not be built: bad. Likely cause: the seeding input")]
    fn a_failed_create_thing_says_what_came_back_and_why(
        #[case] error: ControlError,
        #[case] says: &str,
    ) {
        let text = error.explain(Seeding::CreateThing("t-1"), &seeding_target());
        assert!(
            text.starts_with("CreateThing of thing t-1 at http://127.0.0.1:2: "),
            "{text}"
        );
        assert!(text.contains(says), "{says:?} missing from: {text}");
    }

    fn refused(status: u16, error_type: Option<&str>, body: &str) -> ControlError {
        ControlError::Refused {
            operation: "CreateThing",
            status,
            error_type: error_type.map(str::to_string),
            message: None,
            body: body.into(),
        }
    }

    const MINISTACK_405: &str =
        "<?xml version=\"1.0\"?><Error><Code>MethodNotAllowed</Code></Error>";

    #[rstest]
    #[case::xml_405(
        refused(405, None, MINISTACK_405),
        Some("the answer is 405 with an XML body, not JSON")
    )]
    #[case::xml_404(
        refused(404, None, "<Error/>"),
        Some("the answer is 404 with an XML body")
    )]
    #[case::missing_token(
        refused(403, Some("MissingAuthenticationTokenException"), "{}"),
        Some("the answer is 403 MissingAuthenticationTokenException")
    )]
    #[case::bare_401(refused(401, None, ""), Some("the answer is 401:"))]
    #[case::json_400(refused(400, Some("InvalidRequestException"), "{}"), None)]
    #[case::not_found(not_found(), None)]
    fn an_unsigned_run_names_signing_and_how_to_sign(
        #[case] error: ControlError,
        #[case] evidence: Option<&str>,
    ) {
        let unsigned = error.explain(Seeding::CreateThing("t-1"), &target(false));
        let how = "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN";
        assert!(unsigned.contains("went out unsigned"), "{unsigned}");
        assert!(unsigned.contains(how), "{unsigned}");
        match evidence {
            Some(e) => assert!(
                unsigned.contains(&format!("Likely cause: the requests went out unsigned (no AWS credentials in the environment or the shared credentials file), and {e}")),
                "{e:?} missing from: {unsigned}"
            ),
            None => assert!(
                unsigned.contains("; note that the requests went out unsigned"),
                "{unsigned}"
            ),
        }
        let signed = error.explain(Seeding::CreateThing("t-1"), &target(true));
        assert!(
            !signed.contains("unsigned") && !signed.contains("AWS_"),
            "{signed}"
        );
        assert!(!signed.contains("SECRETKEY") && !unsigned.contains("SECRETKEY"));
    }

    #[rstest]
    #[case(ControlError::Timeout { operation: "CreateThing", deadline_ms: 50 })]
    #[case(ControlError::Failed { operation: "CreateThing", message: "refused".into() })]
    #[case(ControlError::Unbuildable("bad".into()))]
    fn without_an_answer_signing_is_not_the_cause(#[case] error: ControlError) {
        let text = error.explain(Seeding::CreateThing("t-1"), &target(false));
        assert!(!text.contains("unsigned"), "{text}");
    }

    #[test]
    fn a_full_account_is_named_and_not_blamed_on_signing() {
        let full = ControlError::Refused {
            operation: "CreateJob",
            status: 410,
            error_type: Some("LimitExceededException".into()),
            message: None,
            body: String::new(),
        };
        for signed in [false, true] {
            let text = full.explain(Seeding::CreateJob("j-1", &[]), &target(signed));
            assert!(
                text.contains("Likely cause: the target holds as many jobs in progress"),
                "{text}"
            );
            assert!(!text.contains("unsigned"), "{text}");
        }
        let other = refused(410, Some("GoneException"), "{}");
        let text = other.explain(Seeding::CreateThing("t-1"), &target(true));
        assert!(!text.contains("jobs in progress"), "{text}");
    }

    #[test]
    fn the_embedded_reference_needs_no_signature() {
        let embedded = Target {
            embedded: true,
            ..target(false)
        };
        let text =
            refused(405, None, MINISTACK_405).explain(Seeding::CreateThing("t-1"), &embedded);
        assert!(!text.contains("unsigned"), "{text}");
    }
}
