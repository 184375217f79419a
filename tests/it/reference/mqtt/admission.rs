//! Quotas and injected faults over MQTT: a spent budget is rejected with `RequestThrottled`, an
//! injected 503 with the code `errors.json` gives ServiceUnavailableException, a drop sends no
//! reply, and each only on what it names. The broker's connect quotas refuse a CONNECT over the
//! account's budget or a client id's one a second: MQTT 5 with CONNACK 0x9F, 3.1.1 by closing the
//! connection without a CONNACK.

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

/// The broker's budgets: `account` CONNECTs (refilled at one a second) and one a second per
/// client id.
fn connects(account: u32) -> Limits {
    let source = json!({"url": "https://example.com/quotas", "read": "2026-12-03", "note": "test"});
    Limits::parse(
        &json!({"service": "test", "read": "2026-12-03", "buckets": [
            {"name": "connect", "plane": "broker", "operations": ["Connect"],
             "perSecond": 1, "burst": account, "source": source},
            {"name": "connect-per-client-id", "plane": "broker", "operations": ["Connect"],
             "per": "clientId", "perSecond": 1, "burst": 1, "source": source}]})
        .to_string(),
    )
    .expect("a valid limits file")
}

/// The broker alone, on a clock at `time_scale`.
async fn broker_with(quotas: Option<Limits>, time_scale: f64) -> RunningServer {
    server_with(ServeConfig {
        mqtt: Some("127.0.0.1:0".parse().unwrap()),
        time_scale,
        quotas,
        ..Default::default()
    })
    .await
}

/// What a refused CONNECT gets, as each client reports it.
fn assert_throttled(proto: Proto, refusal: &str) {
    match proto {
        Proto::V5 => assert!(refusal.contains("ConnectionRateExceeded"), "{refusal}"),
        Proto::V4 => assert!(!refusal.contains("return code"), "no CONNACK: {refusal}"),
    }
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_connects_gets_exactly_the_account_budget_through(
    #[values(Proto::V4, Proto::V5)] proto: Proto,
) {
    let s = broker_with(Some(connects(5)), FROZEN).await;
    let mut connected = Vec::new();
    let mut refused = Vec::new();
    for i in 0..8 {
        match Client::attempt(broker(&s), proto, &format!("dev-{i}")).await {
            Ok(client) => connected.push(client),
            Err(e) => refused.push((i, e)),
        }
    }
    assert_eq!(connected.len(), 5, "refused: {refused:?}");
    assert_eq!(
        refused.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        [5, 6, 7]
    );
    for (_, e) in &refused {
        assert_throttled(proto, e);
    }
    // The sessions that got in are served as before.
    let first = &mut connected[0];
    assert_eq!(first.subscribe("telemetry/#", 1).await, Some(1));
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_id_reconnecting_within_a_second_is_refused_until_the_second_is_over(
    #[values(Proto::V4, Proto::V5)] proto: Proto,
) {
    // A virtual second is half a real one: the refusal needs the second CONNECT within it.
    let s = broker_with(Some(connects(100)), 2.0).await;
    let clock = s.engine().clock().clone();
    let mut first = Client::attempt(broker(&s), proto, THING)
        .await
        .expect("the first CONNECT is accepted");
    let admitted_by = clock.now_ms();
    let refusal = match Client::attempt(broker(&s), proto, THING).await {
        Err(refusal) => refusal,
        Ok(_) => panic!(
            "a second CONNECT {} virtual ms after the first was accepted",
            clock.now_ms() - admitted_by
        ),
    };
    assert_throttled(proto, &refusal);
    // A refused CONNECT takes nothing over: the first session is still served.
    assert_eq!(first.subscribe("telemetry/#", 1).await, Some(1));
    tokio::time::sleep(clock.real_until(admitted_by + 1000)).await;
    Client::attempt(broker(&s), proto, THING)
        .await
        .expect("after the second, the client id connects again");
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connect_is_answered_as_each_version_allows(
    #[values(Proto::V4, Proto::V5)] proto: Proto,
) {
    let s = broker_with(Some(connects(1)), FROZEN).await;
    let _held = raw_session(broker(&s), proto, "dev-a").await;
    let mut refused = tcp(broker(&s)).await;
    refused
        .write_all(&connect_packet(proto, "dev-b"))
        .await
        .expect("CONNECT");
    let sent = drained_until_closed(&mut refused)
        .await
        .expect("the broker closes a throttled connection");
    match proto {
        // CONNACK, no session present, reason 0x9F Connection rate exceeded, no properties.
        Proto::V5 => assert_eq!(sent, [0x20, 0x03, 0x00, 0x9F, 0x00]),
        // MQTT 3.1.1 §3.2.2.3: no return code applies, so no CONNACK.
        Proto::V4 => assert_eq!(sent, [] as [u8; 0]),
    }
}

#[rstest]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_quotas_no_connect_is_refused(#[values(Proto::V4, Proto::V5)] proto: Proto) {
    let s = broker_with(None, FROZEN).await;
    let mut connected = Vec::new();
    for i in 0..20 {
        let id = if i % 2 == 0 {
            THING.to_string()
        } else {
            format!("dev-{i}")
        };
        match Client::attempt(broker(&s), proto, &id).await {
            Ok(client) => connected.push(client),
            Err(e) => panic!("CONNECT {i} by {id} refused without quotas: {e}"),
        }
    }
}
