//! Typed inputs of the engine's operations, read from request objects that already passed the
//! schemas of `schemas/` (the bindings validate; these types only carry the values).

use serde::Deserialize;

use super::execution::Details;
use crate::contract::Status;

/// StartNextPendingJobExecution input.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartNext {
    /// Thing name.
    pub thing_name: String,
    /// Replaces the stored statusDetails when the execution is started.
    pub status_details: Option<Details>,
    /// Step timer to start with the execution.
    pub step_timeout_in_minutes: Option<i64>,
}

/// UpdateJobExecution input.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Update {
    /// Thing name.
    pub thing_name: String,
    /// Job id.
    pub job_id: String,
    /// Requested status.
    pub status: Status,
    /// Replaces the stored statusDetails.
    pub status_details: Option<Details>,
    /// New step timer, or the cancel value.
    pub step_timeout_in_minutes: Option<i64>,
    /// Refuse the update unless the stored version is this.
    pub expected_version: Option<i64>,
    /// Return JobExecutionState.
    #[serde(default)]
    pub include_job_execution_state: bool,
    /// Return the job document.
    #[serde(default)]
    pub include_job_document: bool,
    /// Which execution; the latest when absent.
    pub execution_number: Option<i64>,
}

/// DescribeJobExecution input.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Describe {
    /// Thing name.
    pub thing_name: String,
    /// Job id or `$next`.
    pub job_id: String,
    /// Return the job document (default true).
    pub include_job_document: Option<bool>,
    /// Which execution; the latest when absent.
    pub execution_number: Option<i64>,
}

/// GetPendingJobExecutions input.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetPending {
    /// Thing name.
    pub thing_name: String,
}
