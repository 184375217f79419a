//! Bounds on the state the engine keeps, read from the `state` section of a limits file
//! (`schemas/limits/`): the active jobs of the account, the executions a thing retains, and the
//! size of a statusDetails map. Bounded memory is the point, so a server always has them; a
//! bound the file leaves out (or enforces by no figure) is not held.

use jobcert_contract::{Limits, StateLimit};

use super::EngineError;
use super::execution::Details;

/// The names of the bounds in a limits file.
mod name {
    pub const ACTIVE_SNAPSHOT_JOBS: &str = "active-snapshot-jobs";
    pub const ACTIVE_CONTINUOUS_JOBS: &str = "active-continuous-jobs";
    pub const EXECUTIONS_PER_THING: &str = "executions-per-thing";
    pub const STATUS_DETAILS_ENTRIES: &str = "status-details-entries";
    pub const STATUS_DETAILS_SIZE: &str = "status-details-size";
}

/// The bounds the engine holds; `None` is not held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateBounds {
    /// SNAPSHOT jobs IN_PROGRESS at once.
    pub active_snapshot_jobs: Option<usize>,
    /// CONTINUOUS jobs IN_PROGRESS at once.
    pub active_continuous_jobs: Option<usize>,
    /// Executions one thing retains before its oldest terminal one is forgotten.
    pub executions_per_thing: Option<usize>,
    /// Pairs of one statusDetails map.
    pub status_details_entries: Option<usize>,
    /// UTF-8 bytes of one statusDetails map's keys and values.
    pub status_details_size: Option<usize>,
}

impl Default for StateBounds {
    /// The bounds of the newest embedded AWS limits file.
    fn default() -> Self {
        Self::of(Limits::aws())
    }
}

impl StateBounds {
    /// The bounds `limits` enforces.
    pub fn of(limits: &Limits) -> Self {
        let bound = |n: &str| {
            limits
                .state_limit(n)
                .and_then(StateLimit::bound)
                .map(|b| usize::try_from(b).unwrap_or(usize::MAX))
        };
        Self {
            active_snapshot_jobs: bound(name::ACTIVE_SNAPSHOT_JOBS),
            active_continuous_jobs: bound(name::ACTIVE_CONTINUOUS_JOBS),
            executions_per_thing: bound(name::EXECUTIONS_PER_THING),
            status_details_entries: bound(name::STATUS_DETAILS_ENTRIES),
            status_details_size: bound(name::STATUS_DETAILS_SIZE),
        }
    }

    /// No bound at all.
    pub fn none() -> Self {
        Self {
            active_snapshot_jobs: None,
            active_continuous_jobs: None,
            executions_per_thing: None,
            status_details_entries: None,
            status_details_size: None,
        }
    }

    /// The bound on active jobs of `target_selection` (`SNAPSHOT` or `CONTINUOUS`), with its
    /// name.
    pub(super) fn active_jobs(&self, target_selection: &str) -> (Option<usize>, &'static str) {
        if target_selection == "CONTINUOUS" {
            (self.active_continuous_jobs, name::ACTIVE_CONTINUOUS_JOBS)
        } else {
            (self.active_snapshot_jobs, name::ACTIVE_SNAPSHOT_JOBS)
        }
    }

    /// Refuses a job past the bound on active jobs: `active` of its kind are IN_PROGRESS.
    pub(super) fn admit_job(
        &self,
        target_selection: &str,
        active: usize,
    ) -> Result<(), EngineError> {
        match self.active_jobs(target_selection) {
            (Some(max), name) if active >= max => Err(EngineError::LimitExceeded(format!(
                "{active} {} jobs are in progress, the most this account allows ({name}: {max})",
                target_selection.to_ascii_lowercase()
            ))),
            _ => Ok(()),
        }
    }

    /// Refuses a statusDetails map past the bounds on its pairs or its size.
    pub(super) fn check_details(&self, details: Option<&Details>) -> Result<(), EngineError> {
        let Some(details) = details else {
            return Ok(());
        };
        if let Some(max) = self.status_details_entries
            && details.len() > max
        {
            return Err(EngineError::InvalidRequest(format!(
                "statusDetails has {} entries; at most {max} are accepted ({})",
                details.len(),
                name::STATUS_DETAILS_ENTRIES
            )));
        }
        let size: usize = details.iter().map(|(k, v)| k.len() + v.len()).sum();
        if let Some(max) = self.status_details_size
            && size > max
        {
            return Err(EngineError::InvalidRequest(format!(
                "statusDetails holds {size} bytes of keys and values; at most {max} are accepted ({})",
                name::STATUS_DETAILS_SIZE
            )));
        }
        Ok(())
    }

    /// How many executions a thing holding `held` must forget before one more joins.
    pub(super) fn forget_before_one_more(&self, held: usize) -> usize {
        self.executions_per_thing
            .map_or(0, |max| (held + 1).saturating_sub(max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn bounds() -> StateBounds {
        StateBounds {
            active_snapshot_jobs: Some(3),
            active_continuous_jobs: Some(2),
            executions_per_thing: Some(4),
            status_details_entries: Some(2),
            status_details_size: Some(10),
        }
    }

    #[rstest]
    #[case::below("SNAPSHOT", 2, true)]
    #[case::at_the_bound("SNAPSHOT", 3, false)]
    #[case::past_it("SNAPSHOT", 7, false)]
    #[case::continuous_below("CONTINUOUS", 1, true)]
    #[case::continuous_at_its_own_bound("CONTINUOUS", 2, false)]
    fn a_job_past_the_active_bound_of_its_kind_is_refused_as_aws_refuses_it(
        #[case] selection: &str,
        #[case] active: usize,
        #[case] admitted: bool,
    ) {
        let got = bounds().admit_job(selection, active);
        assert_eq!(got.is_ok(), admitted, "{got:?}");
        if let Err(e) = got {
            assert_eq!(e.kind(), jobcert_contract::ErrorKind::LimitExceeded);
        }
        assert!(StateBounds::none().admit_job(selection, active).is_ok());
    }

    #[rstest]
    #[case::absent(None, true)]
    #[case::empty(Some(&[][..]), true)]
    #[case::at_both_bounds(Some(&[("ab", "cde"), ("f", "ghij")][..]), true)]
    #[case::one_entry_too_many(Some(&[("a", "b"), ("c", "d"), ("e", "f")][..]), false)]
    #[case::one_byte_too_many(Some(&[("ab", "cde"), ("f", "ghijk")][..]), false)]
    #[case::bytes_not_characters(Some(&[("k", "éééééé")][..]), false)]
    fn a_status_details_map_past_its_bounds_is_an_invalid_request(
        #[case] pairs: Option<&[(&str, &str)]>,
        #[case] accepted: bool,
    ) {
        let details: Option<Details> = pairs.map(|p| {
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        });
        let got = bounds().check_details(details.as_ref());
        assert_eq!(got.is_ok(), accepted, "{got:?}");
        if let Err(e) = got {
            assert_eq!(e.kind(), jobcert_contract::ErrorKind::InvalidRequest);
        }
        assert!(StateBounds::none().check_details(details.as_ref()).is_ok());
    }

    #[rstest]
    #[case::room_left(2, 0)]
    #[case::one_below(3, 0)]
    #[case::full(4, 1)]
    #[case::over_after_a_lowered_bound(6, 3)]
    fn a_full_thing_forgets_enough_for_one_more(#[case] held: usize, #[case] forget: usize) {
        assert_eq!(bounds().forget_before_one_more(held), forget);
        assert_eq!(StateBounds::none().forget_before_one_more(held), 0);
    }

    #[test]
    fn the_aws_file_bounds_every_kind_of_state() {
        let b = StateBounds::default();
        assert!(b.active_snapshot_jobs.is_some());
        assert!(b.active_continuous_jobs.is_some());
        assert!(b.executions_per_thing.is_some());
        assert!(b.status_details_entries.is_some());
        assert!(b.status_details_size.is_some());
        // Forgetting only terminal executions always finds one: a thing holds at most one
        // non-terminal execution per active job.
        let active = b.active_snapshot_jobs.unwrap() + b.active_continuous_jobs.unwrap();
        assert!(b.executions_per_thing.unwrap() > active);
    }
}
