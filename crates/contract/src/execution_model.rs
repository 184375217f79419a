//! The execution state machine's facts, read from `schemas/execution-model.json`.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// A job execution status (model enum JobExecutionStatus).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Waiting for the device.
    Queued,
    /// Started by the device.
    InProgress,
    /// Finished well.
    Succeeded,
    /// Finished badly.
    Failed,
    /// A timer expired.
    TimedOut,
    /// The device refused it.
    Rejected,
    /// The thing is no longer a target.
    Removed,
    /// The job or execution was canceled.
    Canceled,
}

impl Status {
    /// The wire spelling (`IN_PROGRESS`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "QUEUED",
            Self::InProgress => "IN_PROGRESS",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::TimedOut => "TIMED_OUT",
            Self::Rejected => "REJECTED",
            Self::Removed => "REMOVED",
            Self::Canceled => "CANCELED",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusFacts {
    terminal: bool,
    device_settable: bool,
}

/// Timer facts.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimerFacts {
    /// The stepTimeoutInMinutes value that cancels the running step timer.
    pub cancel_step_timeout: i64,
    /// The status an execution takes when a timer expires.
    pub expired_status: Status,
    /// How late the service may set that status after the deadline.
    pub expiry_slack_seconds: i64,
    /// For each failure status, the retry criteria `failureType`s that cover it.
    pub retryable_failures: HashMap<Status, Vec<String>>,
}

/// The state machine of a job execution as `schemas/execution-model.json` states it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionModel {
    statuses: HashMap<Status, StatusFacts>,
    /// Pending statuses, in "next" priority order.
    pub pending_order: Vec<Status>,
    device_transitions: HashMap<Status, Vec<Status>>,
    /// versionNumber of a freshly queued execution.
    pub initial_version_number: i64,
    /// Most executions GetPendingJobExecutions lists.
    pub pending_list_limit: usize,
    /// Most it lists when one of them belongs to a job with a scheduling configuration.
    pub pending_list_limit_with_scheduling: usize,
    /// Timer facts.
    pub timers: TimerFacts,
}

impl ExecutionModel {
    /// Whether no further transition leaves `status`.
    pub fn is_terminal(&self, status: Status) -> bool {
        self.statuses[&status].terminal
    }

    /// Whether a device may request `status` in UpdateJobExecution.
    pub fn is_device_settable(&self, status: Status) -> bool {
        self.statuses[&status].device_settable
    }

    /// Whether `status` is pending (listed by GetPendingJobExecutions), and its rank in "next" order.
    pub fn pending_rank(&self, status: Status) -> Option<usize> {
        self.pending_order.iter().position(|s| *s == status)
    }

    /// Whether a device may move an execution from `from` to `to`.
    pub fn device_may_move(&self, from: Status, to: Status) -> bool {
        self.device_transitions
            .get(&from)
            .is_some_and(|targets| targets.contains(&to))
    }
}

/// The process-wide execution model.
pub fn execution_model() -> &'static ExecutionModel {
    static MODEL: OnceLock<ExecutionModel> = OnceLock::new();
    MODEL.get_or_init(|| {
        let text =
            super::file("execution-model.json").expect("schemas/execution-model.json is embedded");
        serde_json::from_str(text).expect("schemas/execution-model.json is well-formed")
    })
}
