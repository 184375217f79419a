//! Interoperability with the AWS SDK for Rust (`aws-sdk-iotjobsdataplane`): every data-plane
//! operation through the generated client against an in-process reference server.
//!
//! The Rust SDK is the strictest client: it parses timestamps and longs as integers only, reads
//! the error type from `x-amzn-errortype`, and maps modelled errors onto typed variants. Seeding
//! goes through the control plane (`common`).

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::common::{create_job, create_thing, data_url, server};
use aws_sdk_iotjobsdataplane::Client;
use aws_sdk_iotjobsdataplane::config::retry::RetryConfig;
use aws_sdk_iotjobsdataplane::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_iotjobsdataplane::operation::describe_job_execution::DescribeJobExecutionError;
use aws_sdk_iotjobsdataplane::operation::start_next_pending_job_execution::StartNextPendingJobExecutionError;
use aws_sdk_iotjobsdataplane::operation::update_job_execution::UpdateJobExecutionError;
use aws_sdk_iotjobsdataplane::types::{JobExecution, JobExecutionStatus, JobExecutionSummary};
use jobcert_contract::{NEXT_EXECUTION, execution_model};
use jobcert_reference::RunningServer;
use serde_json::json;

/// A thing name with `:`, so the SDK's label encoding (`%3A`) is exercised on every call.
const THING: &str = "sdk:thing_1";
/// The older of the two seeded jobs: the head of the pending list.
const FIRST: &str = "job-first";
/// The newer seeded job.
const SECOND: &str = "job-second";

/// The job document CreateJob stores for `job` (see `common::create_job`).
fn document(job: &str) -> String {
    format!("{{\"job\":\"{job}\"}}")
}

/// The versionNumber of a freshly queued execution.
fn initial_version() -> i64 {
    execution_model().initial_version_number
}

/// A reference server with [`THING`] and QUEUED executions of [`FIRST`] then [`SECOND`], and an
/// SDK client pointed at its data plane.
async fn seeded() -> (RunningServer, Client) {
    let server = server(1.0).await;
    create_thing(&server, THING).await;
    create_job(&server, FIRST, &[THING], json!({})).await;
    create_job(&server, SECOND, &[THING], json!({})).await;
    let config = aws_sdk_iotjobsdataplane::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            None,
            None,
            "static",
        ))
        .endpoint_url(data_url(&server))
        .retry_config(RetryConfig::disabled())
        .build();
    (server, Client::from_conf(config))
}

/// Whole seconds since the epoch, now.
fn now_seconds() -> i64 {
    let elapsed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    i64::try_from(elapsed.as_secs()).expect("seconds fit in i64")
}

/// A timestamp is epoch seconds close to now (not milliseconds, not zero).
fn assert_recent(what: &str, seconds: i64) {
    let now = now_seconds();
    assert!(
        (now - 60..=now + 60).contains(&seconds),
        "{what} = {seconds} is not epoch seconds near {now}"
    );
}

/// A QUEUED summary of `job`, untouched since it was queued.
fn assert_queued_summary(summary: &JobExecutionSummary, job: &str) {
    assert_eq!(summary.job_id(), Some(job));
    assert_recent("queuedAt", summary.queued_at());
    assert_eq!(summary.started_at(), None);
    assert_eq!(summary.last_updated_at(), summary.queued_at());
    assert_eq!(summary.version_number(), initial_version());
    assert_eq!(summary.execution_number(), Some(1));
}

/// Job ids of a list of summaries, in order.
fn ids(summaries: &[JobExecutionSummary]) -> Vec<&str> {
    summaries
        .iter()
        .filter_map(JobExecutionSummary::job_id)
        .collect()
}

/// Starts the head execution ([`FIRST`]) without options.
async fn start_first(client: &Client) -> JobExecution {
    let out = client
        .start_next_pending_job_execution()
        .thing_name(THING)
        .send()
        .await
        .expect("StartNextPendingJobExecution");
    let execution = out.execution().expect("an execution was pending").clone();
    assert_eq!(execution.job_id(), Some(FIRST));
    execution
}

/// DescribeJobExecution shows `job` in `status` at `version`.
async fn assert_state(client: &Client, job: &str, status: JobExecutionStatus, version: i64) {
    let out = client
        .describe_job_execution()
        .thing_name(THING)
        .job_id(job)
        .send()
        .await
        .expect("DescribeJobExecution");
    let execution = out.execution().expect("the execution");
    assert_eq!(execution.status(), Some(&status));
    assert_eq!(execution.version_number(), version);
}

#[tokio::test]
async fn get_pending_lists_queued_executions_oldest_first() {
    let (_server, client) = seeded().await;
    let out = client
        .get_pending_job_executions()
        .thing_name(THING)
        .send()
        .await
        .expect("GetPendingJobExecutions");
    assert!(out.in_progress_jobs().is_empty());
    assert_eq!(ids(out.queued_jobs()), [FIRST, SECOND]);
    assert_queued_summary(&out.queued_jobs()[0], FIRST);
    assert_queued_summary(&out.queued_jobs()[1], SECOND);
}

#[tokio::test]
async fn start_next_starts_the_head_with_details_and_step_timer() {
    let (_server, client) = seeded().await;
    let minutes = 30;
    let out = client
        .start_next_pending_job_execution()
        .thing_name(THING)
        .status_details("progress", "1/3")
        .status_details("phase", "download")
        .step_timeout_in_minutes(minutes)
        .send()
        .await
        .expect("StartNextPendingJobExecution");
    let execution = out.execution().expect("an execution was pending");
    assert_eq!(execution.job_id(), Some(FIRST));
    assert_eq!(execution.thing_name(), Some(THING));
    assert_eq!(execution.status(), Some(&JobExecutionStatus::InProgress));
    let details = HashMap::from([
        ("progress".to_string(), "1/3".to_string()),
        ("phase".to_string(), "download".to_string()),
    ]);
    assert_eq!(execution.status_details(), Some(&details));
    assert_recent("queuedAt", execution.queued_at());
    let started = execution.started_at().expect("startedAt once started");
    assert_recent("startedAt", started);
    assert!(started >= execution.queued_at());
    assert_eq!(execution.last_updated_at(), started);
    let left = execution
        .approximate_seconds_before_timed_out()
        .expect("the step timer runs");
    assert!(
        (minutes * 60 - 10..=minutes * 60).contains(&left),
        "{left}s left"
    );
    assert_eq!(execution.version_number(), initial_version() + 1);
    assert_eq!(execution.execution_number(), Some(1));
    assert_eq!(execution.job_document(), Some(document(FIRST).as_str()));

    let pending = client
        .get_pending_job_executions()
        .thing_name(THING)
        .send()
        .await
        .expect("GetPendingJobExecutions");
    assert_eq!(ids(pending.in_progress_jobs()), [FIRST]);
    assert_eq!(
        pending.in_progress_jobs()[0].started_at(),
        execution.started_at()
    );
    assert_eq!(ids(pending.queued_jobs()), [SECOND]);
}

#[tokio::test]
async fn start_next_with_nothing_pending_returns_no_execution() {
    let (_server, client) = seeded().await;
    for job in [FIRST, SECOND] {
        client
            .update_job_execution()
            .thing_name(THING)
            .job_id(job)
            .status(JobExecutionStatus::Rejected)
            .send()
            .await
            .expect("UpdateJobExecution");
    }
    let out = client
        .start_next_pending_job_execution()
        .thing_name(THING)
        .send()
        .await
        .expect("StartNextPendingJobExecution");
    assert!(out.execution().is_none(), "{out:?}");
}

#[tokio::test]
async fn describe_next_and_a_named_execution() {
    let (_server, client) = seeded().await;
    let next = client
        .describe_job_execution()
        .thing_name(THING)
        .job_id(NEXT_EXECUTION)
        .send()
        .await
        .expect("DescribeJobExecution $next");
    let next = next.execution().expect("the head execution");
    assert_eq!(next.job_id(), Some(FIRST));
    assert_eq!(next.thing_name(), Some(THING));
    assert_eq!(next.status(), Some(&JobExecutionStatus::Queued));
    assert_eq!(next.job_document(), Some(document(FIRST).as_str()));
    assert_eq!(next.started_at(), None);
    assert_eq!(next.approximate_seconds_before_timed_out(), None);

    let named = client
        .describe_job_execution()
        .thing_name(THING)
        .job_id(SECOND)
        .include_job_document(false)
        .execution_number(1)
        .send()
        .await
        .expect("DescribeJobExecution by id");
    let named = named.execution().expect("the named execution");
    assert_eq!(named.job_id(), Some(SECOND));
    assert_eq!(named.status(), Some(&JobExecutionStatus::Queued));
    assert_eq!(named.job_document(), None);
    assert_eq!(named.execution_number(), Some(1));
    assert_eq!(named.version_number(), initial_version());
    assert_recent("queuedAt", named.queued_at());
    assert_eq!(named.last_updated_at(), named.queued_at());
    assert_eq!(named.status_details(), None);
}

#[tokio::test]
async fn update_returns_state_and_document_when_asked() {
    let (_server, client) = seeded().await;
    let started = start_first(&client).await;
    let out = client
        .update_job_execution()
        .thing_name(THING)
        .job_id(FIRST)
        .status(JobExecutionStatus::Succeeded)
        .status_details("result", "ok")
        .expected_version(started.version_number())
        .execution_number(1)
        .include_job_execution_state(true)
        .include_job_document(true)
        .send()
        .await
        .expect("UpdateJobExecution");
    let state = out.execution_state().expect("executionState was asked for");
    assert_eq!(state.status(), Some(&JobExecutionStatus::Succeeded));
    let details = HashMap::from([("result".to_string(), "ok".to_string())]);
    assert_eq!(state.status_details(), Some(&details));
    assert_eq!(state.version_number(), started.version_number() + 1);
    assert_eq!(out.job_document(), Some(document(FIRST).as_str()));

    let quiet = client
        .update_job_execution()
        .thing_name(THING)
        .job_id(SECOND)
        .status(JobExecutionStatus::InProgress)
        .send()
        .await
        .expect("UpdateJobExecution without includes");
    assert!(quiet.execution_state().is_none(), "{quiet:?}");
    assert!(quiet.job_document().is_none(), "{quiet:?}");

    let finished = client
        .describe_job_execution()
        .thing_name(THING)
        .job_id(FIRST)
        .send()
        .await
        .expect("DescribeJobExecution");
    let finished = finished.execution().expect("the finished execution");
    assert_eq!(finished.status(), Some(&JobExecutionStatus::Succeeded));
    assert_eq!(finished.version_number(), state.version_number());
    assert_eq!(finished.approximate_seconds_before_timed_out(), None);
}

#[tokio::test]
async fn start_next_step_timeout_zero_is_an_invalid_request() {
    let (_server, client) = seeded().await;
    let err = client
        .start_next_pending_job_execution()
        .thing_name(THING)
        .step_timeout_in_minutes(0)
        .send()
        .await
        .expect_err("stepTimeoutInMinutes 0 is refused");
    match err.into_service_error() {
        StartNextPendingJobExecutionError::InvalidRequestException(e) => {
            let message = e.message().unwrap_or_default();
            assert!(message.contains("stepTimeoutInMinutes"), "{message}");
        }
        other => panic!("expected InvalidRequestException, got {other:?}"),
    }
    let head = client
        .describe_job_execution()
        .thing_name(THING)
        .job_id(FIRST)
        .send()
        .await
        .expect("DescribeJobExecution");
    let head = head.execution().expect("the head execution");
    assert_eq!(head.status(), Some(&JobExecutionStatus::Queued));
    assert_eq!(head.version_number(), initial_version());
}

#[tokio::test]
async fn describe_unknown_job_is_resource_not_found() {
    let (_server, client) = seeded().await;
    let err = client
        .describe_job_execution()
        .thing_name(THING)
        .job_id("no-such-job")
        .send()
        .await
        .expect_err("no execution of that job");
    match err.into_service_error() {
        DescribeJobExecutionError::ResourceNotFoundException(e) => {
            assert!(e.message().is_some_and(|m| !m.is_empty()));
        }
        other => panic!("expected ResourceNotFoundException, got {other:?}"),
    }
}

#[tokio::test]
async fn update_of_a_terminal_execution_is_an_invalid_state_transition() {
    let (_server, client) = seeded().await;
    start_first(&client).await;
    let done = client
        .update_job_execution()
        .thing_name(THING)
        .job_id(FIRST)
        .status(JobExecutionStatus::Failed)
        .include_job_execution_state(true)
        .send()
        .await
        .expect("UpdateJobExecution to FAILED");
    let done = done.execution_state().expect("executionState").clone();
    let err = client
        .update_job_execution()
        .thing_name(THING)
        .job_id(FIRST)
        .status(JobExecutionStatus::InProgress)
        .send()
        .await
        .expect_err("a terminal execution cannot move");
    match err.into_service_error() {
        UpdateJobExecutionError::InvalidStateTransitionException(e) => {
            assert!(e.message().is_some_and(|m| !m.is_empty()));
        }
        other => panic!("expected InvalidStateTransitionException, got {other:?}"),
    }
    assert_state(
        &client,
        FIRST,
        JobExecutionStatus::Failed,
        done.version_number(),
    )
    .await;
}

#[tokio::test]
async fn update_with_a_stale_expected_version_is_an_invalid_state_transition() {
    let (_server, client) = seeded().await;
    let started = start_first(&client).await;
    let err = client
        .update_job_execution()
        .thing_name(THING)
        .job_id(FIRST)
        .status(JobExecutionStatus::Succeeded)
        .expected_version(started.version_number() - 1)
        .send()
        .await
        .expect_err("the expected version is stale");
    match err.into_service_error() {
        UpdateJobExecutionError::InvalidStateTransitionException(e) => {
            let message = e.message().unwrap_or_default();
            assert!(message.contains("expectedVersion"), "{message}");
        }
        other => panic!("expected InvalidStateTransitionException, got {other:?}"),
    }
    assert_state(
        &client,
        FIRST,
        JobExecutionStatus::InProgress,
        started.version_number(),
    )
    .await;
}
