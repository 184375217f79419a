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

/// A whole number written as a float (`5.0`) is the integer it denotes
/// ([`jobcert_contract::whole_number`]); one beyond the 64-bit range stays fractional and is
/// refused by name when the input is read.
fn whole_numbers(value: Value) -> Value {
    match value {
        Value::Number(n) => {
            jobcert_contract::whole_number(&n).map_or(Value::Number(n), Value::from)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(whole_numbers).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, whole_numbers(v)))
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use serde_json::json;

    #[rstest]
    #[case::integer(json!(5), Ok(Some(5)))]
    #[case::integral_float(json!(5.0), Ok(Some(5)))]
    #[case::cancel_as_float(json!(-1.0), Ok(Some(-1)))]
    #[case::fraction(json!(2.5), Err(()))]
    #[case::beyond_i64(json!(9_223_372_036_854_775_808.0), Err(()))]
    fn step_timeouts_are_read_as_json_schema_integers(
        #[case] step: Value,
        #[case] want: Result<Option<i64>, ()>,
    ) {
        let read: Result<StartNext, String> =
            read(json!({"thingName": "t", "stepTimeoutInMinutes": step}));
        assert_eq!(
            read.map(|r| r.step_timeout_in_minutes).map_err(|_| ()),
            want
        );
    }
}
