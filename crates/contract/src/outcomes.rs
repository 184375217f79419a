//! The answers the contract allows where it allows more than one (`schemas/outcomes.json`,
//! spec §7), per requirement. Expectations, the state model and the schema checks read them
//! here, so none of them can be stricter than the contract.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

use serde::{Deserialize, Deserializer};

use crate::{Binding, Level, RequirementId};

/// The HTTP status an outcome has: one code, or any client error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusSpec {
    /// Exactly this status.
    Exact(u16),
    /// Any 4xx.
    ClientError,
}

impl StatusSpec {
    /// Whether `status` is one of these.
    pub fn admits(self, status: u16) -> bool {
        match self {
            Self::Exact(s) => s == status,
            Self::ClientError => (400..500).contains(&status),
        }
    }
}

impl<'de> Deserialize<'de> for StatusSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Code(u16),
            Class(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Code(c) => Ok(Self::Exact(c)),
            Raw::Class(c) if c == "4xx" => Ok(Self::ClientError),
            Raw::Class(c) => Err(serde::de::Error::custom(format!(
                "status {c:?} is neither a number nor \"4xx\""
            ))),
        }
    }
}

/// One allowed answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outcome {
    /// The HTTP status (not judged over MQTT).
    pub status: Option<StatusSpec>,
    /// The error type as the SDKs read it; `None`: a success, or any type of a 4xx.
    pub error: Option<String>,
    /// The transports it applies to; all when empty.
    #[serde(default)]
    pub bindings: Vec<Binding>,
    /// Whether it is the §7 default.
    #[serde(default)]
    pub default: bool,
    /// What it means, for messages.
    pub means: String,
}

impl Outcome {
    /// Whether it applies over `binding`.
    pub fn applies_to(&self, binding: Binding) -> bool {
        self.bindings.is_empty() || self.bindings.contains(&binding)
    }

    /// Whether it is a success (which alone carries a body to judge).
    pub fn is_success(&self) -> bool {
        self.error.is_none() && self.status.is_some_and(|s| s.admits(200))
    }

    /// Whether an answer with `status` (HTTP only) and error type `error` (`None`: a success)
    /// is this outcome over `binding`.
    pub fn admits(&self, binding: Binding, status: Option<u16>, error: Option<&str>) -> bool {
        let status_ok = match (binding, self.status, status) {
            (Binding::Mqtt, ..) | (_, None, _) => true,
            (_, Some(spec), Some(s)) => spec.admits(s),
            (_, Some(_), None) => false,
        };
        let error_ok = match (&self.error, error) {
            (Some(want), got) => got == Some(want.as_str()),
            // Any 4xx is a refusal of any type; otherwise no type means a success.
            (None, got) => got.is_some() == (self.status == Some(StatusSpec::ClientError)),
        };
        self.applies_to(binding) && status_ok && error_ok
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = match self.status {
            Some(StatusSpec::Exact(s)) => Some(s.to_string()),
            Some(StatusSpec::ClientError) => Some("any 4xx".to_string()),
            None => None,
        };
        let parts: Vec<String> = status.into_iter().chain(self.error.clone()).collect();
        write!(f, "{} ({})", parts.join(" "), self.means)
    }
}

/// A response-schema constraint that is a §7 item rather than a malformed answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaCause {
    /// The member, dotted, `*` for any key (`statusDetails.*`), as it ends a violation's path.
    pub member: String,
    /// The schema keyword broken.
    pub keyword: String,
    /// The definition it sits in, for readers.
    pub schema: String,
}

impl SchemaCause {
    /// Whether a violation at `field` (dotted) of `keyword_path` (dotted, as the validator
    /// reports it: from the definition a `$ref` reached, `$defs.DetailsValue.maxLength`) is this
    /// cause.
    pub fn explains(&self, field: &str, keyword_path: &str) -> bool {
        let pointer = self.schema.split_once('#').map_or("", |(_, p)| p);
        let broken = format!(
            "{}.{}",
            pointer.trim_start_matches('/').replace('/', "."),
            self.keyword
        );
        let want: Vec<&str> = self.member.split('.').collect();
        let got: Vec<&str> = field.split('.').collect();
        let tail = got.len() >= want.len()
            && got[got.len() - want.len()..]
                .iter()
                .zip(&want)
                .all(|(g, w)| *w == "*" || g == w);
        tail && keyword_path.ends_with(&broken)
    }
}

/// The answers allowed in one requirement's situation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Alternatives {
    /// The section of JOBS-API.md that allows them.
    pub section: String,
    /// The situation, in words.
    pub situation: String,
    /// The ambiguous requirement a non-default outcome is reported under.
    partner: Option<RequirementId>,
    /// The allowed answers.
    pub allowed: Vec<Outcome>,
    /// Response-schema constraints that are this item.
    #[serde(default)]
    pub schema_causes: Vec<SchemaCause>,
}

impl Alternatives {
    /// The allowed answers over `binding`.
    pub fn over(&self, binding: Binding) -> impl Iterator<Item = &Outcome> {
        self.allowed.iter().filter(move |o| o.applies_to(binding))
    }

    /// The allowed answer that an answer is, if any.
    pub fn matching(
        &self,
        binding: Binding,
        status: Option<u16>,
        error: Option<&str>,
    ) -> Option<&Outcome> {
        self.over(binding)
            .find(|o| o.admits(binding, status, error))
    }

    /// The §7 default over `binding`.
    pub fn default_over(&self, binding: Binding) -> Option<&Outcome> {
        self.over(binding).find(|o| o.default)
    }

    /// The allowed answers over `binding`, for messages (`409 … or 400 …`).
    pub fn listed(&self, binding: Binding) -> String {
        self.over(binding)
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" or ")
    }
}

/// Every requirement's alternatives.
#[derive(Debug, Deserialize)]
pub struct OutcomeTable {
    outcomes: BTreeMap<RequirementId, Alternatives>,
}

impl OutcomeTable {
    /// The alternatives in `requirement`'s situation, if the contract allows several answers.
    pub fn get(&self, requirement: RequirementId) -> Option<&Alternatives> {
        self.outcomes.get(&requirement)
    }

    /// The ambiguous requirement a non-default answer in `requirement`'s situation is
    /// reported under.
    pub fn partner(&self, requirement: RequirementId) -> Option<RequirementId> {
        self.get(requirement)
            .map(|a| a.partner.unwrap_or(requirement))
    }

    /// Every requirement with alternatives.
    pub fn iter(&self) -> impl Iterator<Item = (RequirementId, &Alternatives)> {
        self.outcomes.iter().map(|(id, a)| (*id, a))
    }

    /// The requirements whose §7 item a response-schema violation at `field` of
    /// `keyword_path` is.
    pub fn schema_cause(
        &self,
        field: &str,
        keyword_path: &str,
    ) -> impl Iterator<Item = RequirementId> {
        self.iter()
            .filter(move |(_, a)| {
                a.schema_causes
                    .iter()
                    .any(|c| c.explains(field, keyword_path))
            })
            .map(|(id, _)| id)
    }

    /// What is wrong with the table, if anything: a partner that is not ambiguous, or a
    /// binding without exactly one default.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (id, a) in self.iter() {
            let partner = a.partner.unwrap_or(id);
            if partner.level() != Level::Ambiguous {
                out.push(format!("{id}: partner {partner} is not ambiguous"));
            }
            for binding in [Binding::Http, Binding::Mqtt] {
                let defaults = a.over(binding).filter(|o| o.default).count();
                if a.over(binding).next().is_some() && defaults != 1 {
                    out.push(format!("{id}: {defaults} defaults over {}", binding.name()));
                }
            }
        }
        out
    }
}

/// The process-wide table of `schemas/outcomes.json`.
pub fn outcomes() -> &'static OutcomeTable {
    static TABLE: OnceLock<OutcomeTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let text = super::file("outcomes.json").expect("schemas/outcomes.json is embedded");
        serde_json::from_str(text).expect("schemas/outcomes.json is well-formed")
    })
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;
    use crate::req;

    #[test]
    fn the_table_loads_and_is_coherent() {
        assert_eq!(outcomes().problems(), Vec::<String>::new());
        assert!(outcomes().get(req::DE_TERMINAL).is_some());
    }

    #[test]
    fn an_unknown_requirement_is_refused() {
        let text =
            r#"{"outcomes": {"DE-NO-SUCH": {"section": "7.6", "situation": "x", "allowed": []}}}"#;
        let err = serde_json::from_str::<OutcomeTable>(text).expect_err("refused");
        assert!(err.to_string().contains("unknown requirement ID"), "{err}");
    }

    #[rstest]
    #[case::terminal_described(req::DE_TERMINAL, Binding::Http, Some(200), None, Some(true))]
    #[case::terminal_refused(
        req::DE_TERMINAL,
        Binding::Http,
        Some(410),
        Some("TerminalStateException"),
        Some(false)
    )]
    #[case::terminal_wrong_status(
        req::DE_TERMINAL,
        Binding::Http,
        Some(409),
        Some("TerminalStateException"),
        None
    )]
    #[case::terminal_over_mqtt(
        req::DE_TERMINAL,
        Binding::Mqtt,
        None,
        Some("TerminalStateException"),
        Some(false)
    )]
    #[case::version_409(
        req::UP_EXPECTED_VERSION,
        Binding::Http,
        Some(409),
        Some("InvalidStateTransitionException"),
        Some(true)
    )]
    #[case::version_400(
        req::UP_EXPECTED_VERSION,
        Binding::Http,
        Some(400),
        Some("InvalidRequestException"),
        Some(false)
    )]
    #[case::version_mqtt_is_documented(
        req::UP_EXPECTED_VERSION,
        Binding::Mqtt,
        None,
        Some("InvalidRequestException"),
        None
    )]
    #[case::device_status_any_4xx(
        req::UP_DEVICE_STATUS,
        Binding::Http,
        Some(403),
        Some("ForbiddenException"),
        Some(false)
    )]
    #[case::device_status_not_accepted_over_mqtt(
        req::UP_DEVICE_STATUS,
        Binding::Mqtt,
        None,
        None,
        None
    )]
    #[case::device_status_not_5xx(
        req::UP_DEVICE_STATUS,
        Binding::Http,
        Some(500),
        Some("InternalException"),
        None
    )]
    fn an_answer_is_an_allowed_outcome_or_none(
        #[case] requirement: RequirementId,
        #[case] binding: Binding,
        #[case] status: Option<u16>,
        #[case] error: Option<&str>,
        #[case] default: Option<bool>,
    ) {
        let alternatives = outcomes().get(requirement).expect("listed");
        let found = alternatives.matching(binding, status, error);
        assert_eq!(found.map(|o| o.default), default);
    }

    #[rstest]
    #[case::a_long_value("execution.statusDetails.k", "$defs.DetailsValue.maxLength", true)]
    #[case::an_empty_value("execution.statusDetails.k", "$defs.DetailsValue.minLength", false)]
    #[case::a_bad_key("execution.statusDetails", "$defs.DetailsKey.maxLength", false)]
    #[case::another_member("execution.jobId", "$defs.JobId.maxLength", false)]
    fn a_schema_cause_explains_only_its_member_and_keyword(
        #[case] field: &str,
        #[case] keyword_path: &str,
        #[case] explained: bool,
    ) {
        let causes: Vec<RequirementId> = outcomes().schema_cause(field, keyword_path).collect();
        assert_eq!(!causes.is_empty(), explained, "{causes:?}");
    }
}
