//! A device's inbox under content matching, through the embedded reference's broker: a `notify`
//! of an earlier state arriving after the step's mark is skipped and the matching one taken;
//! the skipped one is not consumed, so a later step with the same mark still finds it.

use std::time::{Duration, Instant};

use jobcert_harness::check::notify::{self, Expected};
use jobcert_harness::transport::Broker;
use jobcert_harness::transport::mqtt::{Dial, MqttDevice, Received};
use jobcert_reference::{RunningServer, ServeConfig};
use serde_json::json;

use crate::common;

/// How long connecting, and a wait that must succeed, may take.
const WAIT: Duration = Duration::from_secs(10);
/// How long a wait that must find nothing waits.
const SHORT: Duration = Duration::from_millis(300);

fn lists(queued: &[&str]) -> Expected {
    Expected::Lists {
        queued: queued.iter().map(|s| s.to_string()).collect(),
        in_progress: Vec::new(),
    }
}

fn described(messages: &[Received]) -> Vec<Expected> {
    let candidates = [lists(&["first"]), lists(&["first", "second"])];
    messages
        .iter()
        .filter_map(|m| {
            candidates
                .iter()
                .find(|c| notify::matches(c, &m.payload))
                .cloned()
        })
        .collect()
}

async fn broker() -> RunningServer {
    common::server_with(ServeConfig {
        mqtt: Some("127.0.0.1:0".parse().unwrap()),
        ..ServeConfig::default()
    })
    .await
}

#[tokio::test]
async fn an_earlier_state_is_skipped_and_kept_for_a_later_step() {
    let server = broker().await;
    let port = server.mqtt().expect("an embedded broker").port();
    let origin = Instant::now();
    common::create_thing(&server, "dev").await;
    let device = MqttDevice::connect(
        &Dial::new(Broker::tcp("127.0.0.1", port), None, Default::default()),
        "dev",
        origin,
        WAIT,
        None,
    )
    .await
    .expect("the device connects");
    let topic = "$aws/things/dev/jobs/notify";
    let mark = origin.elapsed().as_micros() as u64;
    let both = lists(&["first", "second"]);

    // The wait begins before anything arrives; `notify` listing [first] comes first.
    let (found, ()) = tokio::join!(
        device.next_message(topic, mark, WAIT, |p| notify::matches(&both, p)),
        async {
            common::create_job(&server, "first", &["dev"], json!({})).await;
            common::create_job(&server, "second", &["dev"], json!({})).await;
        }
    );
    let found = found.expect("the notify listing both jobs is taken");
    assert!(found.at_us >= mark);
    assert!(
        notify::judge(&both, &found.payload).passed,
        "{}",
        found.payload
    );

    // A step with a later mark does not see it;
    let later = device
        .next_message(topic, found.at_us + 1, SHORT, |_| true)
        .await;
    assert_eq!(later, Err(Vec::new()));
    // a step with the same mark finds the skipped one; a miss reports it without consuming it.
    let nothing = lists(&[]);
    let missed = device
        .next_message(topic, mark, SHORT, |p| notify::matches(&nothing, p))
        .await
        .expect_err("nothing lists no job");
    assert_eq!(described(&missed), vec![lists(&["first"])]);
    let first = lists(&["first"]);
    let skipped = device
        .next_message(topic, mark, WAIT, |p| notify::matches(&first, p))
        .await
        .expect("the skipped notify is still in the inbox");
    assert!(skipped.at_us <= found.at_us);

    // Each was taken once: nothing on the topic is left.
    let left = device.next_message(topic, mark, SHORT, |_| true).await;
    assert_eq!(left, Err(Vec::new()));
    device.close();
}
