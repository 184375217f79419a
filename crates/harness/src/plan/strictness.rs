//! Whether an expectation is stricter than the contract: a status or error type written where
//! the requirement allows several answers (`schemas/outcomes.json`, spec §7).

use jobcert_contract::{Binding, Outcome, RequirementId, outcomes};

use super::Expectation;

impl Expectation {
    /// Whether the expectation admits all of `outcome` over `binding`: its status (not judged
    /// over MQTT) and error type, or a success when it names neither.
    pub fn writes(&self, outcome: &Outcome, binding: Binding) -> bool {
        let status_ok = match (binding, self.status, outcome.status) {
            (Binding::Mqtt, ..) | (_, None, _) => true,
            (_, Some(s), Some(spec)) => spec.admits(s),
            (_, Some(_), None) => false,
        };
        // An outcome of any 4xx type is wider than one type written.
        let error_ok = match (&self.error, &outcome.error) {
            (Some(want), Some(got)) => want == got,
            (Some(_), None) => false,
            (None, _) => self.status.is_some() || outcome.is_success(),
        };
        status_ok && error_ok
    }

    /// Why the expectation, checking `requirement` over `bindings`, is stricter than the
    /// contract allows, or why its `strict-only` mark means nothing; `None` when it is neither.
    /// A status or error type that leaves out an allowed answer is stricter unless marked
    /// strict-only; body members are not, as they are judged only when the answer that carries
    /// them came back.
    pub fn stricter_than(
        &self,
        requirement: RequirementId,
        bindings: &[Binding],
    ) -> Option<String> {
        let alternatives = outcomes().get(requirement);
        let Some(alternatives) = alternatives else {
            return self.strict_only.then(|| {
                format!(
                    "strict-only, but {requirement} allows only one answer (schemas/outcomes.json)"
                )
            });
        };
        if self.strict_only || (self.status.is_none() && self.error.is_none()) {
            return None;
        }
        let bindings = if bindings.is_empty() {
            &[Binding::Http, Binding::Mqtt][..]
        } else {
            bindings
        };
        let left_out: Vec<String> = bindings
            .iter()
            .flat_map(|&b| alternatives.over(b).filter(move |o| !self.writes(o, b)))
            .map(ToString::to_string)
            .collect();
        let written: Vec<String> = self
            .status
            .map(|s| s.to_string())
            .into_iter()
            .chain(self.error.clone())
            .collect();
        (!left_out.is_empty()).then(|| {
            format!(
                "expect {} is stricter than {requirement}: §{} also allows {}; mark it \
                 strict-only: true to judge it as written under --profile strict only",
                written.join(" "),
                alternatives.section,
                left_out.join(" or ")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;
    use serde_json::json;

    use super::*;
    use jobcert_contract::req;

    fn expecting(status: Option<u16>, error: Option<&str>, strict_only: bool) -> Expectation {
        Expectation {
            status,
            error: error.map(str::to_string),
            strict_only,
            ..Expectation::default()
        }
    }

    #[rstest]
    #[case::status_409_of_a_version_mismatch(expecting(Some(409), None, false), req::UP_EXPECTED_VERSION, &[], Some("§7.3 also allows 400 InvalidRequestException"))]
    #[case::type_of_a_version_mismatch(expecting(None, Some("InvalidStateTransitionException"), false), req::UP_EXPECTED_VERSION, &[Binding::Http], Some("stricter than UP-EXPECTED-VERSION"))]
    #[case::marked_strict_only(expecting(Some(409), Some("InvalidStateTransitionException"), true), req::UP_EXPECTED_VERSION, &[], None)]
    #[case::documented_over_mqtt(expecting(None, Some("VersionMismatch"), false), req::UP_EXPECTED_VERSION, &[Binding::Mqtt], None)]
    #[case::status_of_a_terminal_describe(expecting(Some(200), None, false), req::DE_TERMINAL, &[Binding::Http], Some("also allows 410 TerminalStateException"))]
    #[case::type_of_a_device_status_refusal(expecting(None, Some("InvalidRequestException"), false), req::UP_DEVICE_STATUS, &[], Some("any 4xx"))]
    #[case::one_answer_allowed(expecting(Some(409), Some("InvalidStateTransitionException"), false), req::UP_TERMINAL, &[], None)]
    #[case::strict_only_without_alternatives(expecting(Some(404), None, true), req::DE_NOT_FOUND, &[], Some("allows only one answer"))]
    fn an_expectation_may_not_be_stricter_than_its_requirement(
        #[case] expect: Expectation,
        #[case] requirement: RequirementId,
        #[case] bindings: &[Binding],
        #[case] refused: Option<&str>,
    ) {
        let why = expect.stricter_than(requirement, bindings);
        match (refused, &why) {
            (Some(part), Some(text)) => assert!(text.contains(part), "{text}"),
            (None, None) => {}
            _ => panic!("expected {refused:?}, got {why:?}"),
        }
    }

    #[test]
    fn body_members_are_not_stricter() {
        let expect = Expectation {
            body: json!({ "execution.status": "SUCCEEDED" })
                .as_object()
                .cloned()
                .unwrap_or_default(),
            ..Expectation::default()
        };
        assert_eq!(expect.stricter_than(req::DE_TERMINAL, &[]), None);
    }
}
