//! Paced rollouts and abort criteria of the reference server, over HTTP on a fast virtual clock.
//! Every timing is judged from the server's own timestamps, never from real time.

use std::time::{Duration, Instant};

use crate::common::{call, control_url, create_job, server, server_with};
use jobcert_reference::engine::{EngineSettings, Unreleased};
use jobcert_reference::{RunningServer, ServeConfig};
use serde_json::{Value, json};

/// Creates `n` things named `{prefix}-{i}` (through the engine: CreateThing over HTTP is
/// tested elsewhere, and 5,000 of them would only slow this down).
fn things(s: &RunningServer, prefix: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let name = format!("{prefix}-{i}");
            s.engine().create_thing(&name);
            name
        })
        .collect()
}

async fn create_paced_job(s: &RunningServer, id: &str, things: &[String], extra: Value) {
    let refs: Vec<&str> = things.iter().map(String::as_str).collect();
    create_job(s, id, &refs, extra).await;
}

async fn control_get(s: &RunningServer, path: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(format!("{}{path}", control_url(s)))
        .send()
        .await
        .expect("control-plane request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn describe_job(s: &RunningServer, id: &str) -> Value {
    let (status, body) = control_get(s, &format!("/jobs/{id}")).await;
    assert_eq!(status, 200, "{body}");
    body["job"].clone()
}

/// The control plane's view of `thing`'s execution of `job`, if it exists.
async fn execution(s: &RunningServer, thing: &str, job: &str) -> Option<Value> {
    let (status, body) = control_get(s, &format!("/things/{thing}/jobs/{job}")).await;
    (status == 200).then(|| body["execution"].clone())
}

/// Seconds from the job's creation to the queuing of `thing`'s execution.
async fn queued_after(s: &RunningServer, job: &Value, thing: &str) -> i64 {
    let id = job["jobId"].as_str().expect("jobId");
    let e = execution(s, thing, id)
        .await
        .unwrap_or_else(|| panic!("{thing} has no execution of {id}"));
    e["queuedAt"].as_i64().expect("queuedAt") - job["createdAt"].as_i64().expect("createdAt")
}

/// Waits (real time, bounded) until `thing` has an execution of `job`.
async fn wait_for_execution(s: &RunningServer, thing: &str, job: &str, limit: Duration) {
    let start = Instant::now();
    while execution(s, thing, job).await.is_none() {
        assert!(
            start.elapsed() < limit,
            "{thing} got no execution of {job} in {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_constant_rate_rolls_5000_out_over_five_minutes() {
    // One virtual minute is 0.1 s.
    let s = server(600.0).await;
    let names = things(&s, "fleet", 5000);
    create_paced_job(
        &s,
        "paced",
        &names,
        json!({ "jobExecutionsRolloutConfig": { "maximumPerMinute": 1000 } }),
    )
    .await;
    let job = describe_job(&s, "paced").await;
    wait_for_execution(&s, "fleet-4999", "paced", Duration::from_secs(30)).await;
    // 1,000 in each minute: the 1,001st a minute after the first, the last after 4 to 6.
    assert_eq!(queued_after(&s, &job, "fleet-0").await, 0);
    let before = queued_after(&s, &job, "fleet-999").await;
    assert!((59..=60).contains(&before), "the 1,000th after {before} s");
    let after = queued_after(&s, &job, "fleet-1000").await;
    assert_eq!(after, 60, "the 1,001st after {after} s");
    let last = queued_after(&s, &job, "fleet-4999").await;
    assert!((240..=360).contains(&last), "the last after {last} s");
    let job = describe_job(&s, "paced").await;
    assert_eq!(job["jobProcessDetails"]["numberOfQueuedThings"], 5000);
    assert_eq!(job["status"], "IN_PROGRESS");
    assert_eq!(
        job["jobExecutionsRolloutConfig"],
        json!({ "maximumPerMinute": 1000 })
    );
}

#[tokio::test]
async fn an_exponential_rate_doubles_as_awss_example_says() {
    // One virtual minute is 10 ms.
    let s = server(6000.0).await;
    let names = things(&s, "exp", 3001);
    create_paced_job(
        &s,
        "exp",
        &names,
        json!({ "jobExecutionsRolloutConfig": { "exponentialRate": {
            "baseRatePerMinute": 50,
            "incrementFactor": 2,
            "rateIncreaseCriteria": { "numberOfNotifiedThings": 1000 }
        } } }),
    )
    .await;
    let job = describe_job(&s, "exp").await;
    wait_for_execution(&s, "exp-3000", "exp", Duration::from_secs(30)).await;
    // 50 a minute for the first 1,000, 100 for the next, then 200: (thing, seconds after).
    let table = [
        ("exp-999", 1198),
        ("exp-1000", 1200),
        ("exp-1999", 1799),
        ("exp-2000", 1800),
        ("exp-2999", 2099),
        ("exp-3000", 2100),
    ];
    for (thing, expected) in table {
        let after = queued_after(&s, &job, thing).await;
        assert!(
            (expected - 1..=expected + 1).contains(&after),
            "{thing} after {after} s, not {expected}"
        );
    }
}

async fn set_status(s: &RunningServer, thing: &str, job: &str, status: &str) {
    let (code, _, body) = call(
        s,
        "POST",
        &format!("/things/{thing}/jobs/{job}"),
        Some(&json!({ "status": status }).to_string()),
    )
    .await;
    assert_eq!(code, 200, "{thing} {status}: {body}");
}

#[tokio::test]
async fn an_abort_cancels_queued_executions_and_leaves_in_progress_ones_running() {
    let s = server(1.0).await;
    let names = things(&s, "ab", 300);
    create_paced_job(
        &s,
        "ab",
        &names,
        json!({ "abortConfig": { "criteriaList": [{
            "failureType": "FAILED", "action": "CANCEL",
            "thresholdPercentage": 10, "minNumberOfExecutedThings": 100
        }] } }),
    )
    .await;
    for thing in &names[..5] {
        let (code, _, _) = call(
            &s,
            "PUT",
            &format!("/things/{thing}/jobs/$next"),
            Some("{}"),
        )
        .await;
        assert_eq!(code, 200);
    }
    for thing in &names[5..95] {
        set_status(&s, thing, "ab", "SUCCEEDED").await;
    }
    for thing in &names[95..104] {
        set_status(&s, thing, "ab", "FAILED").await;
    }
    // 9 failures of 99 executed: below the minimum, no abort yet.
    assert_eq!(describe_job(&s, "ab").await["status"], "IN_PROGRESS");
    set_status(&s, &names[104], "ab", "FAILED").await;
    let job = describe_job(&s, "ab").await;
    assert_eq!(job["status"], "CANCELED", "{}", job["jobProcessDetails"]);
    assert_eq!(job["reasonCode"], "ABORT_CRITERIA_MET");
    assert_eq!(
        job["jobProcessDetails"],
        json!({
            "numberOfCanceledThings": 195,
            "numberOfSucceededThings": 90,
            "numberOfFailedThings": 10,
            "numberOfRejectedThings": 0,
            "numberOfQueuedThings": 0,
            "numberOfInProgressThings": 5,
            "numberOfRemovedThings": 0,
            "numberOfTimedOutThings": 0,
        })
    );
    let e = execution(&s, &names[299], "ab").await.expect("execution");
    assert_eq!(e["status"], "CANCELED");
    // IN_PROGRESS executions go on and may still finish.
    set_status(&s, &names[0], "ab", "SUCCEEDED").await;
    let job = describe_job(&s, "ab").await;
    assert_eq!(job["jobProcessDetails"]["numberOfSucceededThings"], 91);
    assert_eq!(job["jobProcessDetails"]["numberOfInProgressThings"], 4);
}

#[tokio::test]
async fn an_abort_stops_a_rollout_whose_rest_never_comes() {
    // One virtual minute is 0.1 s; one execution a minute.
    let s = server(600.0).await;
    let names = things(&s, "stop", 20);
    create_paced_job(
        &s,
        "stop",
        &names,
        json!({
            "jobExecutionsRolloutConfig": { "maximumPerMinute": 1 },
            "abortConfig": { "criteriaList": [{
                "failureType": "ALL", "action": "CANCEL",
                "thresholdPercentage": 50, "minNumberOfExecutedThings": 1
            }] }
        }),
    )
    .await;
    set_status(&s, "stop-0", "stop", "REJECTED").await;
    let job = describe_job(&s, "stop").await;
    assert_eq!(job["status"], "CANCELED", "{}", job["jobProcessDetails"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(execution(&s, "stop-5", "stop").await.is_none());
    let job = describe_job(&s, "stop").await;
    assert_eq!(job["jobProcessDetails"]["numberOfRejectedThings"], 1);
    assert_eq!(job["jobProcessDetails"]["numberOfQueuedThings"], 0);
}

#[tokio::test]
async fn targets_not_rolled_out_are_absent_or_queued_as_the_setting_says() {
    for (unreleased, visible) in [(Unreleased::Absent, false), (Unreleased::Queued, true)] {
        let s = server_with(ServeConfig {
            engine: EngineSettings {
                unreleased,
                ..EngineSettings::default()
            },
            ..ServeConfig::default()
        })
        .await;
        let names = things(&s, "slow", 3);
        create_paced_job(
            &s,
            "slow",
            &names,
            json!({ "jobExecutionsRolloutConfig": { "maximumPerMinute": 1 } }),
        )
        .await;
        let (code, _, pending) = call(&s, "GET", "/things/slow-2/jobs", None).await;
        assert_eq!(code, 200);
        let listed = pending["queuedJobs"].as_array().map_or(0, Vec::len);
        assert_eq!(listed, usize::from(visible), "{unreleased:?}: {pending}");
        let (code, _, _) = call(&s, "GET", "/things/slow-2/jobs/slow", None).await;
        assert_eq!(
            code == 200,
            visible,
            "{unreleased:?}: describe answered {code}"
        );
        assert!(execution(&s, "slow-0", "slow").await.is_some());
        // The one rolled out has ended; the job has not, while its rest is still to come.
        set_status(&s, "slow-0", "slow", "SUCCEEDED").await;
        assert_eq!(describe_job(&s, "slow").await["status"], "IN_PROGRESS");
    }
}

/// A virtual instant as `YYYY-MM-DDTHH:MM` (UTC), the form of `schedulingConfig` times.
fn schedule_time(ms: i64) -> String {
    let minutes = ms.div_euclid(60_000);
    let (y, m, d) = jobcert_reference::calendar::civil_from_days(minutes.div_euclid(1440));
    let in_day = minutes.rem_euclid(1440);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}", in_day / 60, in_day % 60)
}

#[tokio::test]
async fn a_scheduled_job_rolls_out_only_inside_its_windows_until_its_end() {
    // One virtual hour is 1.2 s.
    let s = server(3000.0).await;
    let names = things(&s, "win", 100);
    // The first whole hour at least 45 minutes away (AWS wants 30; the rest is for the request
    // to arrive); the end 150 minutes later, so the windows at :15 to :25 open three times in
    // between.
    let hour = 3_600_000;
    let now = s.engine().clock().now_ms();
    let start = (now + 45 * 60_000).div_euclid(hour) * hour + hour;
    let end = start + 150 * 60_000;
    create_paced_job(
        &s,
        "win",
        &names,
        json!({
            "jobExecutionsRolloutConfig": { "maximumPerMinute": 2 },
            "schedulingConfig": {
                "startTime": schedule_time(start),
                "endTime": schedule_time(end),
                "endBehavior": "CANCEL",
                "maintenanceWindows": [{ "startTime": "cron(15 * * * ? *)", "durationInMinutes": 10 }]
            }
        }),
    )
    .await;
    let job = describe_job(&s, "win").await;
    assert_eq!(
        job["jobProcessDetails"]["numberOfQueuedThings"], 0,
        "nothing before startTime"
    );
    let waited = Instant::now();
    while describe_job(&s, "win").await["status"] != "CANCELED" {
        assert!(
            waited.elapsed() < Duration::from_secs(30),
            "the job never reached its end"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut rolled_out = 0;
    for thing in &names {
        let Some(e) = execution(&s, thing, "win").await else {
            continue;
        };
        rolled_out += 1;
        let queued = e["queuedAt"].as_i64().unwrap() * 1000;
        let minute_of_hour = queued.div_euclid(60_000).rem_euclid(60);
        assert!(
            (15..25).contains(&minute_of_hour) && (start..end).contains(&queued),
            "{thing} rolled out at {} (minute {minute_of_hour})",
            schedule_time(queued)
        );
        assert_eq!(
            e["status"], "CANCELED",
            "{thing}: the end cancels what is QUEUED"
        );
    }
    // Three windows of ten minutes at two a minute.
    assert_eq!(rolled_out, 60);
    let job = describe_job(&s, "win").await;
    assert_eq!(job["jobProcessDetails"]["numberOfCanceledThings"], 60);
    assert_eq!(job["completedAt"].as_i64().unwrap() * 1000, end);
}

#[tokio::test]
async fn a_schedule_too_soon_or_with_a_bad_window_is_refused() {
    let s = server(1.0).await;
    let names = things(&s, "sched", 1);
    let now = s.engine().clock().now_ms();
    for scheduling in [
        json!({ "startTime": schedule_time(now + 60_000) }),
        json!({ "startTime": "tomorrow" }),
        json!({ "maintenanceWindows": [{ "startTime": "cron(0 0 L * ? *)", "durationInMinutes": 10 }] }),
        json!({ "maintenanceWindows": [{ "startTime": "cron(0 0 * * ? *)", "durationInMinutes": 1431 }] }),
        json!({ "endBehavior": "PAUSE" }),
    ] {
        let r = reqwest::Client::new()
            .put(format!("{}/jobs/sched", control_url(&s)))
            .json(&json!({
                "targets": [crate::common::thing_arn(&names[0])],
                "document": "{}",
                "schedulingConfig": scheduling,
            }))
            .send()
            .await
            .expect("CreateJob");
        assert_eq!(
            r.status().as_u16(),
            400,
            "{scheduling}: {}",
            r.text().await.unwrap_or_default()
        );
    }
}

/// The first `want` things whose pending list changes (what `notify` and `notify-next` are
/// published from), in order, then any more within a short while; waits at most `limit`.
async fn changed_things(
    changes: &mut tokio::sync::broadcast::Receiver<jobcert_reference::engine::Change>,
    want: usize,
    limit: Duration,
) -> Vec<String> {
    let mut seen = Vec::new();
    let until = Instant::now() + limit;
    loop {
        let left = if seen.len() < want {
            until.saturating_duration_since(Instant::now())
        } else {
            Duration::from_millis(50)
        };
        match tokio::time::timeout(left, changes.recv()).await {
            Ok(Ok(change)) if change.list_changed => seen.push(change.thing.to_string()),
            Ok(Ok(_)) => {}
            _ => return seen,
        }
    }
}

#[tokio::test]
async fn a_rolled_out_execution_is_announced_when_it_comes_in_either_mode() {
    for unreleased in [Unreleased::Absent, Unreleased::Queued] {
        // One virtual minute is 0.1 s; one execution a minute.
        let s = server_with(ServeConfig {
            time_scale: 600.0,
            engine: EngineSettings {
                unreleased,
                ..EngineSettings::default()
            },
            ..ServeConfig::default()
        })
        .await;
        let names = things(&s, "note", 2);
        let mut changes = s.engine().changes();
        create_paced_job(
            &s,
            "note",
            &names,
            json!({ "jobExecutionsRolloutConfig": { "maximumPerMinute": 1 } }),
        )
        .await;
        // Each announced once, in rollout order (in `queued` mode not at CreateJob as well).
        let announced = changed_things(&mut changes, 2, Duration::from_secs(10)).await;
        assert_eq!(announced, ["note-0", "note-1"], "{unreleased:?}");
        if unreleased == Unreleased::Absent {
            let job = describe_job(&s, "note").await;
            assert_eq!(queued_after(&s, &job, "note-1").await, 60);
        }
    }
}

#[tokio::test]
async fn the_pending_list_holds_15_once_a_scheduled_job_is_pending() {
    // One virtual hour is 1.2 s.
    let s = server(3000.0).await;
    let thing = things(&s, "cap", 1);
    for i in 0..15 {
        create_paced_job(&s, &format!("plain-{i}"), &thing, json!({})).await;
    }
    // AWS wants 30 minutes ahead; the rest is for the request to arrive.
    let start = s.engine().clock().now_ms() + 45 * 60_000;
    create_paced_job(
        &s,
        "scheduled",
        &thing,
        json!({ "schedulingConfig": { "startTime": schedule_time(start) } }),
    )
    .await;
    let listed = |pending: &Value| pending["queuedJobs"].as_array().map_or(0, Vec::len);
    let (_, _, before) = call(&s, "GET", "/things/cap-0/jobs", None).await;
    assert_eq!(listed(&before), 10, "15 pending, none of a scheduled job");
    wait_for_execution(&s, "cap-0", "scheduled", Duration::from_secs(30)).await;
    let (_, _, after) = call(&s, "GET", "/things/cap-0/jobs", None).await;
    assert_eq!(listed(&after), 15, "16 pending, one of a scheduled job");
}

#[tokio::test]
async fn a_success_raises_the_rate_at_once() {
    // One virtual minute is 1 s; one a minute until the first success, five after it.
    let s = server(60.0).await;
    let names = things(&s, "grow", 3);
    create_paced_job(
        &s,
        "grow",
        &names,
        json!({ "jobExecutionsRolloutConfig": { "exponentialRate": {
            "baseRatePerMinute": 1,
            "incrementFactor": 5,
            "rateIncreaseCriteria": { "numberOfSucceededThings": 1 }
        } } }),
    )
    .await;
    let job = describe_job(&s, "grow").await;
    set_status(&s, "grow-0", "grow", "SUCCEEDED").await;
    let succeeded_at = execution(&s, "grow-0", "grow").await.unwrap()["lastUpdatedAt"]
        .as_i64()
        .unwrap()
        - job["createdAt"].as_i64().unwrap();
    // Visible once due at the new rate, long before the old rate's minute is up (judged only
    // when the server's clock is well inside that minute).
    let created_ms = job["createdAt"].as_i64().unwrap() * 1000;
    let clock = s.engine().clock().clone();
    let waited = Instant::now();
    while clock.now_ms() < created_ms + (succeeded_at.max(12) + 2) * 1000 {
        assert!(
            waited.elapsed() < Duration::from_secs(10),
            "the clock stands still"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let seen = execution(&s, "grow-1", "grow").await.is_some();
    if clock.now_ms() < created_ms + 55_000 {
        assert!(seen, "grow-1 not rolled out at the new rate");
    }
    wait_for_execution(&s, "grow-1", "grow", Duration::from_secs(10)).await;
    // The next one interval of the new rate (12 s) after the first, or at the success if later.
    let next = queued_after(&s, &job, "grow-1").await;
    assert!(
        (12..=succeeded_at.max(12) + 1).contains(&next),
        "grow-1 after {next} s (the success after {succeeded_at} s)"
    );
}
