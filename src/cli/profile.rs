//! The `--profile` argument, mapped onto the harness's [`Profile`] (which knows nothing of the
//! command line).

use jobcert_harness::finding::Profile;

/// How strictly findings are weighed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProfileArg {
    /// Fail only what the contract clearly forbids; where it leaves room, warn.
    Aws,
    /// Also fail every departure from the defaults of spec §7 and the service model.
    Strict,
}

impl From<ProfileArg> for Profile {
    fn from(p: ProfileArg) -> Self {
        match p {
            ProfileArg::Aws => Profile::Aws,
            ProfileArg::Strict => Profile::Strict,
        }
    }
}
