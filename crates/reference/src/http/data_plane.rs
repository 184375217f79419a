//! The four device operations over REST-JSON (spec §2.5). Routing is done on the raw path so
//! that `$next` and `%24next`, encoded `:` in thing names and empty labels all reach the
//! schema checks instead of a router's own rejection.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::wire::{self, ApiError, RawRequest, ok, pass, path_segments, read_body, read_input};
use crate::admission::Gate;
use crate::engine::{Engine, requests};
use jobcert_contract::{NEXT_EXECUTION, Operation, Plane};

/// Routes one request to its operation.
pub async fn dispatch(
    State(engine): State<Arc<Engine>>,
    Extension(gate): Extension<Arc<Gate>>,
    request: Request,
) -> Response {
    match handle(&engine, &gate, request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn handle(engine: &Engine, gate: &Gate, request: Request) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path();
    let query = parts.uri.query();
    let segments = path_segments(path)?;
    let labels = |names: &[&'static str]| -> Vec<(&'static str, String)> {
        names
            .iter()
            .copied()
            .zip(segments.iter().skip(1).step_by(2).cloned())
            .collect()
    };
    let thing = segments.get(1).map(String::as_str);
    let through = |operation: Operation| pass(gate, Plane::Data, operation.name(), thing);
    match (
        &parts.method,
        segments
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice(),
    ) {
        (&Method::GET, ["things", _, "jobs"]) => {
            through(Operation::GetPendingJobExecutions).await?;
            let req: requests::GetPending = read_input(
                Operation::GetPendingJobExecutions.request_schema()?,
                RawRequest {
                    labels: labels(&["thingName"]),
                    query,
                    body: None,
                },
            )?;
            let view = engine.pending(&req);
            Ok(ok(
                &json!({ "inProgressJobs": view.in_progress, "queuedJobs": view.queued }),
            ))
        }
        (&Method::PUT, ["things", _, "jobs", job]) if *job == NEXT_EXECUTION => {
            through(Operation::StartNextPendingJobExecution).await?;
            let body = read_body(body).await?;
            let req: requests::StartNext = read_input(
                Operation::StartNextPendingJobExecution.request_schema()?,
                RawRequest {
                    labels: labels(&["thingName"]),
                    query,
                    body: Some(&body),
                },
            )?;
            Ok(ok(&execution_body(engine.start_next(&req)?)))
        }
        (&Method::GET, ["things", _, "jobs", _]) => {
            through(Operation::DescribeJobExecution).await?;
            let req: requests::Describe = read_input(
                Operation::DescribeJobExecution.request_schema()?,
                RawRequest {
                    labels: labels(&["thingName", "jobId"]),
                    query,
                    body: None,
                },
            )?;
            Ok(ok(&execution_body(engine.describe(&req)?)))
        }
        (&Method::POST, ["things", _, "jobs", _]) => {
            through(Operation::UpdateJobExecution).await?;
            let body = read_body(body).await?;
            let req: requests::Update = read_input(
                Operation::UpdateJobExecution.request_schema()?,
                RawRequest {
                    labels: labels(&["thingName", "jobId"]),
                    query,
                    body: Some(&body),
                },
            )?;
            let outcome = engine.update(&req)?;
            let mut out = Map::new();
            if let Some(state) = outcome.execution_state {
                out.insert("executionState".into(), json!(state));
            }
            if let Some(document) = outcome.job_document {
                out.insert("jobDocument".into(), Value::String(document.to_string()));
            }
            Ok(ok(&Value::Object(out)))
        }
        _ => Err(wire::unknown_operation(parts.method.as_str(), path)),
    }
}

/// `{"execution": …}`, or `{}` when there is none.
fn execution_body<T: serde::Serialize>(execution: Option<T>) -> Value {
    match execution {
        Some(e) => json!({ "execution": e }),
        None => json!({}),
    }
}
