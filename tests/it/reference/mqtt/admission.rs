//! Quotas and injected faults over MQTT: a spent budget is rejected with `RequestThrottled`, an
//! injected 503 with the code `errors.json` gives ServiceUnavailableException, a drop sends no
//! reply, and each only on what it names.

use super::*;
use jobcert_contract::{ErrorKind, Limits, mqtt_code};
use jobcert_reference::admission::Faults;

/// A clock this slow keeps a budget from refilling while a test runs.
const FROZEN: f64 = 1e-6;

async fn serving(quotas: Option<Limits>, faults: Option<&str>) -> RunningServer {
    let s = server_with(ServeConfig {
        mqtt: Some("127.0.0.1:0".parse().unwrap()),
        time_scale: FROZEN,
        quotas,
        faults: faults.map(|f| Faults::parse(f).expect("a valid faults file")),
        ..Default::default()
    })
    .await;
    create_thing(&s, THING).await;
    create_job(&s, "a", &[THING], json!({})).await;
    s
}

/// A write budget of `burst`, refilled at one a second.
fn writes(burst: u32) -> Limits {
    let source = json!({"url": "https://example.com/quotas", "read": "2026-12-03", "note": "test"});
    Limits::parse(
        &json!({"service": "test", "read": "2026-12-03", "buckets": [
            {"name": "write", "plane": "data", "perSecond": 1, "burst": burst, "source": source,
             "operations": ["StartNextPendingJobExecution", "UpdateJobExecution"]}]})
        .to_string(),
    )
    .expect("a valid limits file")
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_budget_a_request_is_rejected_as_throttled(
    #[values(Proto::V4, Proto::V5)] proto: Proto,
) {
    let s = serving(Some(writes(2)), None).await;
    let mut d = device(&s, proto, THING).await;
    d.accepted(&jobs(THING, "start-next"), &json!({})).await;
    d.accepted(&jobs(THING, "a/update"), &json!({"status": "IN_PROGRESS"}))
        .await;
    let r = d
        .rejected(&jobs(THING, "start-next"), r#"{"clientToken":"t-3"}"#)
        .await;
    assert_eq!(r["code"], "RequestThrottled", "{r}");
    assert_eq!(r["clientToken"], "t-3", "{r}");
    // Reads have no budget here.
    d.accepted(&jobs(THING, "get"), &json!({})).await;
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_injected_fault_is_rejected_or_unanswered_on_its_operation_only(
    #[values(Proto::V4, Proto::V5)] proto: Proto,
) {
    let faults = "rules:
  - {operations: [StartNextPendingJobExecution], fault: unavailable}
  - {operations: [DescribeJobExecution], fault: drop}";
    let s = serving(None, Some(faults)).await;
    let mut d = device(&s, proto, THING).await;
    let r = d.rejected(&jobs(THING, "start-next"), "{}").await;
    assert_eq!(
        r["code"].as_str(),
        mqtt_code(ErrorKind::ServiceUnavailable),
        "{r}"
    );
    d.accepted(&jobs(THING, "get"), &json!({})).await;
    d.publish(&jobs(THING, "a/get"), 1, "{}").await;
    let (accepted, rejected) = (jobs(THING, "a/get/accepted"), jobs(THING, "a/get/rejected"));
    d.quiet("a reply to a dropped request", QUIET, |s| {
        s.on(&accepted) || s.on(&rejected)
    })
    .await;
    d.accepted(&jobs(THING, "a/update"), &json!({"status": "IN_PROGRESS"}))
        .await;
}
