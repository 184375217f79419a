//! The control-plane subset (service `iot`) that scenarios use to seed state, wire-compatible
//! with boto3's `iot` client: CreateThing, DeleteThing, CreateThingGroup,
//! AddThingToThingGroup, RemoveThingFromThingGroup, CreateJob, DescribeJob, CancelJob,
//! DescribeJobExecution and CancelJobExecution.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::wire::{self, ApiError, RawRequest, ok, pass, path_segments, read_body, read_input};
use crate::admission::Gate;
use crate::engine::{
    AbortCriterion, CancelExecution, Details, Engine, JobSpec, RetryCriterion, RolloutConfig,
    SchedulingConfig, epoch_seconds,
};
use jobcert_contract::{ControlOperation, Plane, Status};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateThing {
    thing_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TimeoutConfig {
    in_progress_timeout_in_minutes: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RetryConfig {
    criteria_list: Vec<RetryCriterion>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AbortConfig {
    criteria_list: Vec<AbortCriterion>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateJob {
    job_id: String,
    targets: Vec<String>,
    document: Option<String>,
    document_source: Option<String>,
    description: Option<String>,
    target_selection: Option<String>,
    timeout_config: Option<TimeoutConfig>,
    job_executions_retry_config: Option<RetryConfig>,
    job_executions_rollout_config: Option<RolloutConfig>,
    abort_config: Option<AbortConfig>,
    scheduling_config: Option<SchedulingConfig>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JobRef {
    job_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CancelJob {
    job_id: String,
    force: Option<bool>,
    reason_code: Option<String>,
    comment: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateThingGroup {
    thing_group_name: String,
    parent_group_name: Option<String>,
}

/// AddThingToThingGroup's and RemoveThingFromThingGroup's input: each side by name or ARN.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Membership {
    thing_group_name: Option<String>,
    thing_group_arn: Option<String>,
    thing_name: Option<String>,
    thing_arn: Option<String>,
}

impl Membership {
    /// The group's and the thing's names.
    fn names(self, engine: &Engine) -> Result<(String, String), ApiError> {
        let group = match (self.thing_group_name, self.thing_group_arn) {
            (Some(name), _) => name,
            (None, Some(arn)) => engine
                .thing_group_name(&arn)
                .map(str::to_string)
                .ok_or_else(|| {
                    ApiError::invalid(format!("{arn} is not a thing group of this server"))
                })?,
            (None, None) => {
                return Err(ApiError::invalid(
                    "thingGroupName or thingGroupArn is required",
                ));
            }
        };
        let thing = match (self.thing_name, self.thing_arn) {
            (Some(name), _) => name,
            (None, Some(arn)) => arn
                .rsplit_once(":thing/")
                .map(|(_, name)| name.to_string())
                .ok_or_else(|| ApiError::invalid(format!("{arn} is not a thing ARN")))?,
            (None, None) => return Err(ApiError::invalid("thingName or thingArn is required")),
        };
        Ok((group, thing))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeleteThing {
    thing_name: String,
    expected_version: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CancelJobExecution {
    thing_name: String,
    job_id: String,
    force: Option<bool>,
    expected_version: Option<i64>,
    status_details: Option<Details>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeExecution {
    thing_name: String,
    job_id: String,
    execution_number: Option<i64>,
}

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
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let body = read_body(body).await?;
    match (&parts.method, segs.as_slice()) {
        (&Method::POST, ["things", name]) => {
            pass(
                gate,
                Plane::Control,
                ControlOperation::CreateThing.name(),
                Some(name),
            )
            .await?;
            let req: CreateThing = read_input(
                ControlOperation::CreateThing.request_schema()?,
                RawRequest {
                    labels: vec![("thingName", name.to_string())],
                    query,
                    body: Some(&body),
                },
            )?;
            let thing = engine.create_thing(&req.thing_name);
            Ok(ok(
                &json!({ "thingName": thing.name, "thingArn": thing.arn, "thingId": thing.id }),
            ))
        }
        (&Method::POST, ["thing-groups", name]) => {
            pass(
                gate,
                Plane::Control,
                ControlOperation::CreateThingGroup.name(),
                None,
            )
            .await?;
            let req: CreateThingGroup = read_input(
                ControlOperation::CreateThingGroup.request_schema()?,
                RawRequest {
                    labels: vec![("thingGroupName", name.to_string())],
                    query,
                    body: Some(&body),
                },
            )?;
            let group = engine
                .create_thing_group(&req.thing_group_name, req.parent_group_name.as_deref())?;
            Ok(ok(&json!({
                "thingGroupName": group.name,
                "thingGroupArn": group.arn,
                "thingGroupId": group.id,
            })))
        }
        (
            &Method::PUT,
            [
                "thing-groups",
                verb @ ("addThingToThingGroup" | "removeThingFromThingGroup"),
            ],
        ) => {
            let op = if *verb == "addThingToThingGroup" {
                ControlOperation::AddThingToThingGroup
            } else {
                ControlOperation::RemoveThingFromThingGroup
            };
            pass(gate, Plane::Control, op.name(), None).await?;
            let req: Membership = read_input(
                op.request_schema()?,
                RawRequest {
                    labels: Vec::new(),
                    query,
                    body: Some(&body),
                },
            )?;
            let (group, thing) = req.names(engine)?;
            if op == ControlOperation::AddThingToThingGroup {
                engine.add_thing_to_group(&group, &thing)?;
            } else {
                engine.remove_thing_from_group(&group, &thing)?;
            }
            Ok(ok(&json!({})))
        }
        (&Method::DELETE, ["things", name]) => {
            pass(
                gate,
                Plane::Control,
                ControlOperation::DeleteThing.name(),
                Some(name),
            )
            .await?;
            let req: DeleteThing = read_input(
                ControlOperation::DeleteThing.request_schema()?,
                RawRequest {
                    labels: vec![("thingName", name.to_string())],
                    query,
                    body: None,
                },
            )?;
            engine.delete_thing(&req.thing_name, req.expected_version)?;
            Ok(ok(&json!({})))
        }
        (&Method::PUT, ["things", thing, "jobs", job, "cancel"]) => {
            pass(
                gate,
                Plane::Control,
                ControlOperation::CancelJobExecution.name(),
                Some(thing),
            )
            .await?;
            let req: CancelJobExecution = read_input(
                ControlOperation::CancelJobExecution.request_schema()?,
                RawRequest {
                    labels: vec![("thingName", thing.to_string()), ("jobId", job.to_string())],
                    query,
                    body: Some(&body),
                },
            )?;
            engine.cancel_execution(CancelExecution {
                thing: req.thing_name,
                job_id: req.job_id,
                force: req.force.unwrap_or(false),
                expected_version: req.expected_version,
                status_details: req.status_details,
            })?;
            Ok(ok(&json!({})))
        }
        (&Method::PUT, ["jobs", id]) => {
            pass(
                gate,
                Plane::Control,
                ControlOperation::CreateJob.name(),
                None,
            )
            .await?;
            let req: CreateJob = read_input(
                ControlOperation::CreateJob.request_schema()?,
                RawRequest {
                    labels: vec![("jobId", id.to_string())],
                    query,
                    body: Some(&body),
                },
            )?;
            let description = req.description.clone();
            let arn = engine.create_job(job_spec(req)?)?;
            let mut out = json!({ "jobArn": arn, "jobId": id });
            if let Some(d) = description {
                out["description"] = Value::String(d);
            }
            Ok(ok(&out))
        }
        (&Method::GET, ["jobs", id]) => {
            pass(
                gate,
                Plane::Control,
                ControlOperation::DescribeJob.name(),
                None,
            )
            .await?;
            let req: JobRef = read_input(
                ControlOperation::DescribeJob.request_schema()?,
                RawRequest {
                    labels: vec![("jobId", id.to_string())],
                    query,
                    body: None,
                },
            )?;
            Ok(ok(&json!({ "job": describe_job(engine, &req.job_id)? })))
        }
        (&Method::PUT, ["jobs", id, "cancel"]) => {
            pass(
                gate,
                Plane::Control,
                ControlOperation::CancelJob.name(),
                None,
            )
            .await?;
            let req: CancelJob = read_input(
                ControlOperation::CancelJob.request_schema()?,
                RawRequest {
                    labels: vec![("jobId", id.to_string())],
                    query,
                    body: Some(&body),
                },
            )?;
            let arn = engine.cancel_job(
                &req.job_id,
                req.force.unwrap_or(false),
                req.reason_code,
                req.comment,
            )?;
            let info = engine.describe_job(&req.job_id)?;
            let mut out = json!({ "jobArn": arn, "jobId": req.job_id });
            if let Some(d) = info.spec.description {
                out["description"] = Value::String(d);
            }
            Ok(ok(&out))
        }
        (&Method::GET, ["things", thing, "jobs", job]) => {
            pass(
                gate,
                Plane::Control,
                ControlOperation::DescribeJobExecution.name(),
                Some(thing),
            )
            .await?;
            let req: DescribeExecution = read_input(
                ControlOperation::DescribeJobExecution.request_schema()?,
                RawRequest {
                    labels: vec![("thingName", thing.to_string()), ("jobId", job.to_string())],
                    query,
                    body: None,
                },
            )?;
            let view =
                engine.control_describe(&req.thing_name, &req.job_id, req.execution_number)?;
            let e = view.execution;
            let mut out = json!({
                "jobId": e.job_id,
                "status": e.status,
                "thingArn": view.thing_arn,
                "queuedAt": e.queued_at,
                "lastUpdatedAt": e.last_updated_at,
                "executionNumber": e.execution_number,
                "versionNumber": e.version_number,
                "statusDetails": { "detailsMap": e.status_details.unwrap_or_default() },
            });
            if let Some(s) = e.started_at {
                out["startedAt"] = json!(s);
            }
            if let Some(s) = e.approximate_seconds_before_timed_out {
                out["approximateSecondsBeforeTimedOut"] = json!(s);
            }
            Ok(ok(&json!({ "execution": out })))
        }
        _ => Err(wire::unknown_operation(parts.method.as_str(), path)),
    }
}

/// Reads CreateJob's input into a job definition; only thing targets and inline documents are supported.
fn job_spec(req: CreateJob) -> Result<JobSpec, ApiError> {
    if req.document_source.is_some() {
        return Err(ApiError::invalid(
            "documentSource is not supported by the reference server; pass the document inline",
        ));
    }
    let document = req
        .document
        .ok_or_else(|| ApiError::invalid("document is required"))?;
    let mut things = Vec::new();
    let mut groups = Vec::new();
    for arn in &req.targets {
        if let Some((_, group)) = arn.rsplit_once(":thinggroup/") {
            groups.push(group.to_string());
        } else if let Some((_, thing)) = arn.rsplit_once(":thing/") {
            things.push(thing.to_string());
        } else {
            return Err(ApiError::invalid(format!(
                "target {arn} is neither a thing nor a thing group ARN"
            )));
        }
    }
    Ok(JobSpec {
        id: req.job_id,
        things,
        groups,
        targets: req.targets,
        document,
        description: req.description,
        target_selection: req
            .target_selection
            .unwrap_or_else(|| "SNAPSHOT".to_string()),
        in_progress_timeout_minutes: req
            .timeout_config
            .and_then(|t| t.in_progress_timeout_in_minutes),
        retry: req
            .job_executions_retry_config
            .map(|r| r.criteria_list)
            .unwrap_or_default(),
        rollout: req.job_executions_rollout_config,
        scheduling: req.scheduling_config,
        abort: req
            .abort_config
            .map(|a| a.criteria_list)
            .unwrap_or_default(),
    })
}

fn describe_job(engine: &Engine, id: &str) -> Result<Value, ApiError> {
    let info = engine.describe_job(id)?;
    let count = |s: Status| info.counts.get(&s).copied().unwrap_or(0);
    let mut job = Map::new();
    job.insert("jobArn".into(), json!(info.arn));
    job.insert("jobId".into(), json!(info.spec.id));
    job.insert("targetSelection".into(), json!(info.spec.target_selection));
    job.insert("status".into(), json!(info.state.status));
    job.insert("forceCanceled".into(), json!(info.state.force_canceled));
    job.insert("targets".into(), json!(info.spec.targets));
    job.insert("createdAt".into(), json!(epoch_seconds(info.created_at)));
    job.insert(
        "lastUpdatedAt".into(),
        json!(epoch_seconds(info.state.last_updated_at)),
    );
    if let Some(at) = info.state.completed_at {
        job.insert("completedAt".into(), json!(epoch_seconds(at)));
    }
    if let Some(d) = &info.spec.description {
        job.insert("description".into(), json!(d));
    }
    if let Some(r) = &info.state.reason_code {
        job.insert("reasonCode".into(), json!(r));
    }
    if let Some(c) = &info.state.comment {
        job.insert("comment".into(), json!(c));
    }
    if let Some(m) = info.spec.in_progress_timeout_minutes {
        job.insert(
            "timeoutConfig".into(),
            json!({ "inProgressTimeoutInMinutes": m }),
        );
    }
    if !info.spec.retry.is_empty() {
        job.insert(
            "jobExecutionsRetryConfig".into(),
            json!({ "criteriaList": info.spec.retry }),
        );
    }
    if let Some(r) = &info.spec.rollout {
        job.insert("jobExecutionsRolloutConfig".into(), json!(r));
    }
    if let Some(s) = &info.spec.scheduling {
        job.insert("schedulingConfig".into(), json!(s));
    }
    if !info.spec.abort.is_empty() {
        job.insert(
            "abortConfig".into(),
            json!({ "criteriaList": info.spec.abort }),
        );
    }
    job.insert(
        "jobProcessDetails".into(),
        json!({
            "numberOfCanceledThings": count(Status::Canceled),
            "numberOfSucceededThings": count(Status::Succeeded),
            "numberOfFailedThings": count(Status::Failed),
            "numberOfRejectedThings": count(Status::Rejected),
            "numberOfQueuedThings": count(Status::Queued),
            "numberOfInProgressThings": count(Status::InProgress),
            "numberOfRemovedThings": count(Status::Removed),
            "numberOfTimedOutThings": count(Status::TimedOut),
        }),
    );
    Ok(Value::Object(job))
}
