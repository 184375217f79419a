//! Why the engine refuses a request, and how each refusal travels.

use jobcert_contract::ErrorKind;

use super::StateView;

/// Why the engine refused a request.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    /// The request is well-formed but not acceptable.
    #[error("{0}")]
    InvalidRequest(String),
    /// No such thing, job or execution.
    #[error("{0}")]
    NotFound(String),
    /// The requested status cannot be reached from the current one.
    #[error("{message}")]
    InvalidStateTransition {
        /// Explanation.
        message: String,
        /// The execution as it stands.
        state: StateView,
    },
    /// `expectedVersion` does not match the stored version.
    #[error("{message}")]
    VersionMismatch {
        /// Explanation.
        message: String,
        /// The execution as it stands.
        state: StateView,
    },
    /// Control plane: the resource exists already.
    #[error("{0}")]
    AlreadyExists(String),
    /// Control plane: `expectedVersion` does not match.
    #[error("{0}")]
    VersionConflict(String),
    /// Control plane: the account holds as many as a state bound allows.
    #[error("{0}")]
    LimitExceeded(String),
}

impl EngineError {
    /// The HTTP error type (spec §7.3: a version mismatch is an InvalidStateTransition on HTTP).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidRequest(_) => ErrorKind::InvalidRequest,
            Self::NotFound(_) => ErrorKind::ResourceNotFound,
            Self::InvalidStateTransition { .. } | Self::VersionMismatch { .. } => {
                ErrorKind::InvalidStateTransition
            }
            Self::AlreadyExists(_) => ErrorKind::ResourceAlreadyExists,
            Self::VersionConflict(_) => ErrorKind::VersionConflict,
            Self::LimitExceeded(_) => ErrorKind::LimitExceeded,
        }
    }

    /// The execution state that accompanies the error, if any.
    pub fn execution_state(&self) -> Option<&StateView> {
        match self {
            Self::InvalidStateTransition { state, .. } | Self::VersionMismatch { state, .. } => {
                Some(state)
            }
            _ => None,
        }
    }
}
