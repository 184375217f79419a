//! What a check concludes, and how much it weighs under a profile.

use serde::{Deserialize, Serialize};

use jobcert_contract::{Level, RequirementId};

/// The outcome of one check against one requirement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Requirement ID (serialized as its text).
    pub requirement: RequirementId,
    /// Whether the target met it.
    pub passed: bool,
    /// What was checked, or what was wrong.
    pub message: String,
    /// The exchange it is about, by sequence number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exchange: Option<u64>,
    /// The finding that names the root cause of this one, when this one only follows from it
    /// (a follow-on): it is shown under its cause and weighs nothing of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caused_by: Option<Cause>,
}

/// A reference to the finding that names a root cause: its requirement and exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cause {
    /// The requirement the cause was reported under.
    pub requirement: RequirementId,
    /// The exchange that showed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exchange: Option<u64>,
}

impl Cause {
    /// The cause a failing `finding` names.
    pub fn of(finding: &Finding) -> Self {
        Self {
            requirement: finding.requirement,
            exchange: finding.exchange,
        }
    }
}

impl Finding {
    /// A met requirement.
    pub fn pass(
        requirement: RequirementId,
        message: impl Into<String>,
        exchange: Option<u64>,
    ) -> Self {
        Self {
            requirement,
            passed: true,
            message: message.into(),
            exchange,
            caused_by: None,
        }
    }

    /// A broken requirement.
    pub fn fail(
        requirement: RequirementId,
        message: impl Into<String>,
        exchange: Option<u64>,
    ) -> Self {
        Self {
            requirement,
            passed: false,
            message: message.into(),
            exchange,
            caused_by: None,
        }
    }

    /// A pass or a failure, as `ok` says.
    pub fn check(
        ok: bool,
        requirement: RequirementId,
        message: impl Into<String>,
        exchange: Option<u64>,
    ) -> Self {
        if ok {
            Self::pass(requirement, message, exchange)
        } else {
            Self::fail(requirement, message, exchange)
        }
    }

    /// This finding as a follow-on of `cause` (a pass stays a pass).
    pub fn following(mut self, cause: Cause) -> Self {
        if !self.passed {
            self.caused_by = Some(cause);
        }
        self
    }
}

/// How strictly findings are weighed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Fail only what the contract clearly forbids; where it leaves room, warn.
    Aws,
    /// Also fail every departure from the defaults of spec §7 and the service model.
    Strict,
}

/// What a finding means for the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Met.
    Pass,
    /// Broken only as a consequence of another finding (its cause): shown, never counted.
    #[serde(rename = "follow-on")]
    FollowOn,
    /// Broken, but the contract leaves room (or it is only recommended).
    Warning,
    /// Broken, and listed as an accepted deviation.
    Deviation,
    /// Broken.
    Failure,
}

/// The weight of a finding under `profile`, before deviations are applied.
pub fn severity(finding: &Finding, profile: Profile) -> Severity {
    if finding.passed {
        return Severity::Pass;
    }
    if finding.caused_by.is_some() {
        return Severity::FollowOn;
    }
    match (finding.requirement.level(), profile) {
        (Level::Must, _) | (Level::Ambiguous, Profile::Strict) => Severity::Failure,
        (Level::Ambiguous, Profile::Aws) | (Level::Should, _) => Severity::Warning,
    }
}

/// Some requirement of `level`, for tests that weigh findings by level.
#[cfg(test)]
pub(crate) fn of_level(level: Level) -> RequirementId {
    RequirementId::ALL
        .iter()
        .copied()
        .find(|id| id.level() == level)
        .expect("the catalogue lists a requirement of every level")
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::must_aws(Level::Must, Profile::Aws, Severity::Failure)]
    #[case::must_strict(Level::Must, Profile::Strict, Severity::Failure)]
    #[case::ambiguous_aws(Level::Ambiguous, Profile::Aws, Severity::Warning)]
    #[case::ambiguous_strict(Level::Ambiguous, Profile::Strict, Severity::Failure)]
    #[case::should_aws(Level::Should, Profile::Aws, Severity::Warning)]
    #[case::should_strict(Level::Should, Profile::Strict, Severity::Warning)]
    fn a_finding_weighs_as_its_level_and_the_profile_say(
        #[case] level: Level,
        #[case] profile: Profile,
        #[case] broken: Severity,
    ) {
        let id = of_level(level);
        assert_eq!(
            severity(&Finding::fail(id, "broken", None), profile),
            broken
        );
        assert_eq!(
            severity(&Finding::pass(id, "met", None), profile),
            Severity::Pass
        );
    }

    #[test]
    fn a_follow_on_weighs_nothing_of_its_own_under_either_profile() {
        use jobcert_contract::req;
        let cause = Finding::fail(req::TM_STEP_EXPIRY, "never fired", Some(4));
        let follow =
            Finding::fail(req::UP_TERMINAL, "accepted", Some(5)).following(Cause::of(&cause));
        for profile in [Profile::Aws, Profile::Strict] {
            assert_eq!(severity(&cause, profile), Severity::Failure);
            assert_eq!(severity(&follow, profile), Severity::FollowOn);
        }
        let text = serde_json::to_string(&follow).expect("serializes");
        assert!(
            text.ends_with(r#""caused_by":{"requirement":"TM-STEP-EXPIRY","exchange":4}}"#),
            "{text}"
        );
        let pass = Finding::pass(req::UP_TERMINAL, "met", None).following(Cause::of(&cause));
        assert_eq!(pass.caused_by, None);
    }

    #[test]
    fn a_finding_is_written_with_its_id_as_text_and_read_back_only_if_known() {
        let finding = Finding::fail(jobcert_contract::req::SN_START, "not started", Some(3));
        let text = serde_json::to_string(&finding).expect("serializes");
        assert_eq!(
            text,
            r#"{"requirement":"SN-START","passed":false,"message":"not started","exchange":3}"#
        );
        let back: Finding = serde_json::from_str(&text).expect("reads back");
        assert_eq!(back, finding);
        let unknown = text.replace("SN-START", "SN-NO-SUCH-THING");
        let err = serde_json::from_str::<Finding>(&unknown).expect_err("unknown ID refused");
        assert!(err.to_string().contains("unknown requirement ID"), "{err}");
    }
}
