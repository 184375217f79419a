//! Verdicts: findings weighed under a profile and the accepted deviations into case verdicts,
//! the coverage matrix and the run's verdict; a fleet run's thresholds and findings judged on
//! its record. Reads records and findings; sends and checks nothing.

mod differential;
pub mod fleet;
mod run;

pub use differential::{DiffVerdict, MemberVerdict, assess_diff};

pub use run::{
    Assessment, CaseVerdict, Coverage, Deviation, DeviationsError, Totals, Verdict, Weighed,
    assess, load_deviations,
};
