//! The words the reports print for severities, verdicts, profiles and levels: the same as their
//! names in `summary.json`, so that every report speaks alike.

use jobcert_contract::Level;

use crate::finding::{Profile, Severity};
use crate::verdict::Verdict;

pub(crate) fn severity_word(s: Severity) -> &'static str {
    match s {
        Severity::Pass => "pass",
        Severity::FollowOn => "follow-on",
        Severity::Warning => "warning",
        Severity::Deviation => "deviation",
        Severity::Failure => "failure",
    }
}

pub(crate) fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Warn => "warn",
        Verdict::Deviation => "deviation",
        Verdict::Fail => "fail",
        Verdict::Aborted => "aborted",
        Verdict::Untested => "untested",
    }
}

pub(crate) fn profile_word(p: Profile) -> &'static str {
    match p {
        Profile::Aws => "aws",
        Profile::Strict => "strict",
    }
}

pub(crate) fn level_word(l: Level) -> &'static str {
    match l {
        Level::Must => "must",
        Level::Ambiguous => "ambiguous",
        Level::Should => "should",
    }
}

/// The word for a whole run (or a threshold): `pass` or `fail`.
pub(crate) fn passed_word(passed: bool) -> &'static str {
    if passed { "pass" } else { "fail" }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;
    use serde::Serialize;

    use super::*;

    /// `value` as `summary.json` names it.
    fn json_name(value: impl Serialize) -> String {
        serde_json::to_value(value)
            .unwrap()
            .as_str()
            .unwrap()
            .to_string()
    }

    #[rstest]
    #[case(Severity::Pass, "pass")]
    #[case(Severity::FollowOn, "follow-on")]
    #[case(Severity::Warning, "warning")]
    #[case(Severity::Deviation, "deviation")]
    #[case(Severity::Failure, "failure")]
    fn every_severity_has_its_summary_name(#[case] s: Severity, #[case] word: &str) {
        assert_eq!(severity_word(s), word);
        assert_eq!(json_name(s), word);
    }

    #[rstest]
    #[case(Verdict::Pass, "pass")]
    #[case(Verdict::Warn, "warn")]
    #[case(Verdict::Deviation, "deviation")]
    #[case(Verdict::Fail, "fail")]
    #[case(Verdict::Aborted, "aborted")]
    #[case(Verdict::Untested, "untested")]
    fn every_verdict_has_its_summary_name(#[case] v: Verdict, #[case] word: &str) {
        assert_eq!(verdict_word(v), word);
        assert_eq!(json_name(v), word);
    }

    #[rstest]
    #[case(Profile::Aws, "aws")]
    #[case(Profile::Strict, "strict")]
    fn every_profile_has_its_summary_name(#[case] p: Profile, #[case] word: &str) {
        assert_eq!(profile_word(p), word);
        assert_eq!(json_name(p), word);
    }

    #[rstest]
    #[case(Level::Must, "must")]
    #[case(Level::Ambiguous, "ambiguous")]
    #[case(Level::Should, "should")]
    fn every_level_has_its_catalogue_name(#[case] l: Level, #[case] word: &str) {
        assert_eq!(level_word(l), word);
        assert_eq!(json_name(l), word);
    }

    #[rstest]
    #[case(true, "pass")]
    #[case(false, "fail")]
    fn a_run_passes_or_fails(#[case] passed: bool, #[case] word: &str) {
        assert_eq!(passed_word(passed), word);
    }
}
