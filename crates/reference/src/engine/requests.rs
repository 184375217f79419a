//! Typed inputs of the engine's operations, read from request objects that already passed the
//! schemas of `schemas/` (the bindings validate; these types only carry the values).

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::execution::Details;
use jobcert_contract::Status;

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

/// Reads a schema-checked input object into a typed input; a refusal names the member.
pub fn read<T: DeserializeOwned>(input: Value) -> Result<T, String> {
    serde_path_to_error::deserialize(whole_numbers(input)).map_err(|e| {
        let field = e.path().to_string();
        format!("{field}: {}", e.into_inner())
    })
}

/// JSON Schema counts `5.0` as an integer; so do the typed inputs. Whole numbers beyond the
/// 64-bit range stay fractional and are refused by name when the input is read.
fn whole_numbers(value: Value) -> Value {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0; // 2^63
    match value {
        Value::Number(n) => match n.as_f64() {
            Some(f) if !n.is_i64() && !n.is_u64() && f.fract() == 0.0 && f.abs() < LIMIT => {
                Value::from(f as i64)
            }
            _ => Value::Number(n),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(whole_numbers).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, whole_numbers(v)))
                .collect(),
        ),
        other => other,
    }
}
