use rstest::rstest;
use serde_json::json;

use super::*;
use crate::transport::{Exchange, Label, Outcome, WireRequest, WireResponse};

const HEADER: &str = r#"{"type":"header","format":"jobcert-capture/1","source":{"kind":"run"},"origin_ms":1,"target_time_scale":1,"seed":{"things":[{"name":"{thing:dev-1}"}],"jobs":[{"id":"{job:fw}","targets":["{thing:dev-1}"],"create":{"document":"{}"}}]}}"#;

fn exchange_line(device: &str, seq: u64, sent: u64, target: &str) -> String {
    json!({
        "type": "exchange", "device": device, "device_seq": seq, "sent_us": sent,
        "done_us": sent + 10, "transport": "http", "operation": "DescribeJobExecution",
        "method": "GET", "target": target, "answer": {"status": 200, "body": "{}"}
    })
    .to_string()
}

fn good() -> String {
    [
        HEADER.to_string(),
        exchange_line(
            "{thing:dev-1}",
            0,
            100,
            "/things/{thing:dev-1}/jobs/{job:fw}",
        ),
        exchange_line(
            "{thing:dev-1}",
            1,
            2_000_100,
            "/things/{thing:dev-1}/jobs/$next",
        ),
    ]
    .join("\n")
        + "\n"
}

#[test]
fn a_good_capture_reads() {
    let capture = read_str("c.jsonl", &good()).unwrap();
    assert_eq!(capture.header.seed.things.len(), 1);
    assert_eq!(capture.lines.len(), 2);
    assert_eq!(capture.lines[1].line, 3);
}

#[rstest]
#[case::unknown_version(
    &good().replace("jobcert-capture/1", "jobcert-capture/9"),
    "c.jsonl:1: unknown format \"jobcert-capture/9\"; this jobcert reads jobcert-capture/1"
)]
#[case::sequence_backwards(
    &(good() + &exchange_line("{thing:dev-1}", 1, 3_000_000, "/things/{thing:dev-1}/jobs/$next")),
    "c.jsonl:4: device {thing:dev-1}: device_seq 1 after 1"
)]
#[case::missing_seed(
    &good().replace(r#","seed":{"things":[{"name":"{thing:dev-1}"}],"jobs":[{"id":"{job:fw}","targets":["{thing:dev-1}"],"create":{"document":"{}"}}]}"#, ""),
    "c.jsonl:1: the header has no seed"
)]
#[case::thing_not_seeded(
    &good().replace("\"device\":\"{thing:dev-1}\",\"device_seq\":1", "\"device\":\"{thing:dev-2}\",\"device_seq\":1"),
    "c.jsonl:3: {thing:dev-2} is not in the header's seed"
)]
#[case::job_not_seeded(
    &good().replace("jobs/{job:fw}\"", "jobs/{job:other}\""),
    "c.jsonl:2: {job:other} is not in the header's seed"
)]
#[case::no_header_first(
    &good().lines().skip(1).collect::<Vec<_>>().join("\n"),
    "c.jsonl:1: the first line must be the header"
)]
#[case::not_json(&good().replace("\"sent_us\":100,", "\"sent_us\":100,,"), "c.jsonl:2:")]
#[case::schema(&good().replace("\"transport\":\"http\"", "\"transport\":\"ftp\""), "c.jsonl:2: ")]
#[case::empty("", "c.jsonl: empty: no header")]
fn bad_captures_are_refused_with_their_line(#[case] text: &str, #[case] starts: &str) {
    let e = read_str("c.jsonl", text).unwrap_err().to_string();
    assert!(e.starts_with(starts), "{e}");
}

#[test]
fn a_cut_line_says_the_file_ends_inside_it() {
    let text = good();
    let cut = &text.trim_end()[..text.trim_end().len() - 5];
    let e = read_str("c.jsonl", cut).unwrap_err();
    assert_eq!((e.line, e.message.contains("cut short")), (3, true), "{e}");
}

fn recorded(seq: u64, operation: &str, method: &str, target: &str, body: Option<&str>) -> Exchange {
    let request = WireRequest {
        transport: "http".into(),
        method: method.into(),
        endpoint: "http://127.0.0.1:1".into(),
        target: target.into(),
        headers: vec![("authorization".into(), "***".into())],
        body: body.map(str::to_string),
    };
    let answer = Outcome::Answered(WireResponse {
        status: 200,
        headers: vec![("x-amzn-errortype".into(), "X:http://x".into())],
        body: r#"{"execution":{"jobId":"fw-r9h-0"}}"#.into(),
        truncated: false,
    });
    let label = Label {
        seq,
        context: "case",
        operation,
    };
    Exchange::new(label, request, answer, seq * 10, seq * 10 + 5)
}

fn origin() -> Origin {
    Origin {
        source: Source {
            kind: SourceKind::Run,
            detail: Some("r9".into()),
        },
        origin_ms: 5,
        target_time_scale: 600.0,
        run_id: Some("r9".into()),
    }
}

#[test]
fn a_capture_from_exchanges_seeds_the_world_and_uses_placeholders() {
    let exchanges = [
        recorded(0, "CreateThing", "POST", "/things/dev-r9h-0", Some("{}")),
        recorded(
            1,
            "CreateJob",
            "PUT",
            "/jobs/fw-r9h-0",
            Some(
                r#"{"targets":["arn:aws:iot:us-east-1:1:thing/dev-r9h-0"],"document":"{\"for\":\"dev-r9h-0\"}"}"#,
            ),
        ),
        recorded(
            3,
            "UpdateJobExecution",
            "POST",
            "/things/dev-r9h-0/jobs/fw-r9h-0",
            Some(r#"{"status":"IN_PROGRESS","clientToken":"t1"}"#),
        ),
        recorded(
            2,
            "StartNextPendingJobExecution",
            "PUT",
            "/things/dev-r9h-0/jobs/$next",
            None,
        ),
        recorded(4, "DescribeJob", "GET", "/jobs/fw-r9h-0", None),
        recorded(5, "CancelJob", "PUT", "/jobs/fw-r9h-0/cancel", Some("{}")),
        recorded(
            6,
            "DescribeJobExecution",
            "GET",
            "/things/ghost!/jobs/x",
            None,
        ),
    ];
    let capture = from_exchanges(&exchanges, origin());
    let seed = &capture.header.seed;
    assert_eq!(seed.things[0].name, "{thing:dev-h-0}");
    assert_eq!(seed.jobs[0].id, "{job:fw-h-0}");
    assert_eq!(seed.jobs[0].targets, ["{thing:dev-h-0}"]);
    assert_eq!(
        seed.jobs[0].create["document"],
        "{\"for\":\"{thing:dev-h-0}\"}"
    );
    assert!(!seed.jobs[0].create.contains_key("targets"));
    let kinds: Vec<_> = capture
        .lines
        .iter()
        .map(|n| match &n.value {
            Line::Exchange(e) => format!("{} {} {}", e.device_seq, e.operation, e.target),
            Line::Control(c) => format!("control {}", c.target),
            _ => "other".into(),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "0 StartNextPendingJobExecution /things/{thing:dev-h-0}/jobs/$next",
            "1 UpdateJobExecution /things/{thing:dev-h-0}/jobs/{job:fw-h-0}",
            "control /jobs/{job:fw-h-0}/cancel",
            "0 DescribeJobExecution /things/ghost!/jobs/x",
        ]
    );
    let Line::Exchange(update) = &capture.lines[1].value else {
        panic!("an exchange")
    };
    assert_eq!(update.client_token.as_deref(), Some("t1"));
    assert_eq!(
        update.answer,
        Answer::Http {
            status: 200,
            error_type: Some("X".into()),
            body: r#"{"execution":{"jobId":"{job:fw-h-0}"}}"#.into(),
            truncated: false
        }
    );
}

#[rstest]
#[case::plain("c.jsonl")]
#[case::gzip("c.jsonl.gz")]
fn a_written_capture_reads_back_the_same(#[case] name: &str) {
    let exchanges = [
        recorded(0, "CreateThing", "POST", "/things/dev-r9h-0", Some("{}")),
        recorded(
            2,
            "StartNextPendingJobExecution",
            "PUT",
            "/things/dev-r9h-0/jobs/$next",
            None,
        ),
    ];
    let capture = from_exchanges(&exchanges, origin());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    write(&capture, &path).unwrap();
    let text = std::fs::read(&path).unwrap();
    assert_eq!(text.starts_with(&[0x1f, 0x8b]), name.ends_with(".gz"));
    assert!(!String::from_utf8_lossy(&text).contains("authorization"));
    let back = read(&path).unwrap();
    assert_eq!(back.header, capture.header);
    assert_eq!(back.lines[0].value, capture.lines[0].value);
    assert_eq!(back.lines[0].line, 2);
}

#[test]
fn placeholders_give_way_to_the_longest_name_and_keep_labels_apart() {
    let mut names = Placeholders::new(Some("r1".into()));
    assert_eq!(names.thing("a-r1"), "{thing:a}");
    assert_eq!(names.thing("a-r1-x"), "{thing:a-x}");
    assert_eq!(names.thing("r1-a"), "{thing:a~2}");
    assert_eq!(names.thing("r1"), "{thing:r1}");
    assert_eq!(
        names.apply("/things/a-r1-x/jobs"),
        "/things/{thing:a-x}/jobs"
    );
    assert_eq!(
        substitute("/things/{thing:a}/jobs/{job:j}/{x}", |kind, label| Some(
            format!("{kind}-{label}-9")
        )),
        "/things/thing-a-9/jobs/job-j-9/{x}"
    );
    assert_eq!(
        labels("{thing:a} {thing:b} {thing:}", "thing"),
        ["a", "b", ""]
    );
}

#[test]
fn lint_counts_mixes_order_and_gaps() {
    let text = good()
        + &exchange_line(
            "{thing:dev-1}",
            2,
            1_000,
            "/things/{thing:dev-1}/jobs/$next",
        )
        + "\n";
    let report = lint(&read_str("c.jsonl", &text).unwrap());
    assert_eq!(report.exchanges, 3);
    assert_eq!(report.out_of_order, [4]);
    assert_eq!(report.mixes["DescribeJobExecution×3"], 1);
    assert_eq!(report.gaps[0].us, 2_000_000);
    assert_eq!((report.gaps[0].from_line, report.gaps[0].to_line), (2, 3));
    assert_eq!(report.span_us, 2_000_000);
    assert_eq!(report.duration_at(10.0).as_millis(), 200);
    assert!(
        report
            .to_string()
            .contains("1 line(s) earlier than the line above them (first: line 4)")
    );
}

#[test]
fn a_name_inside_another_names_placeholder_is_left_alone() {
    // Without a run id a label is the real name, so `{thing:dev-11}` holds `dev-1`.
    let mut names = Placeholders::new(None);
    names.thing("dev-1");
    names.thing("dev-11");
    names.job("dev-1-job");
    assert_eq!(
        names.apply("/things/dev-11/jobs/dev-1-job dev-1 ünï dev-111"),
        "/things/{thing:dev-11}/jobs/{job:dev-1-job} {thing:dev-1} ünï {thing:dev-11}1"
    );
}

#[test]
fn a_percent_encoded_name_in_a_path_gets_its_placeholder() {
    let mut names = Placeholders::new(None);
    names.thing("interop:thing-1");
    assert_eq!(
        names.apply(r#"/things/interop%3Athing-1/jobs {"thingName":"interop:thing-1"}"#),
        r#"/things/{thing:interop:thing-1}/jobs {"thingName":"{thing:interop:thing-1}"}"#
    );
}

#[test]
fn notifications_become_events_on_their_devices_timeline() {
    let exchanges = [
        recorded(0, "CreateThing", "POST", "/things/dev-r9h-0", Some("{}")),
        recorded(
            2,
            "StartNextPendingJobExecution",
            "PUT",
            "/things/dev-r9h-0/jobs/$next",
            Some("{}"),
        ),
    ];
    let heard = |at_us: u64, topic: &str| Notification {
        at_us,
        topic: topic.into(),
        body: r#"{"execution":{"thingName":"dev-r9h-0"}}"#.into(),
    };
    let notifications = [
        heard(25, "$aws/things/dev-r9h-0/jobs/notify"),
        heard(5, "$aws/things/dev-r9h-0/jobs/notify-next"),
        heard(6, "not/a/thing"),
    ];
    let capture = from_traffic(&exchanges, &notifications, origin());
    let timeline: Vec<(String, u64, u64, &str)> = capture
        .lines
        .iter()
        .map(|n| match &n.value {
            Line::Event(e) => (e.device.clone(), e.device_seq, e.at_us, e.topic.as_str()),
            Line::Exchange(e) => (e.device.clone(), e.device_seq, e.sent_us, e.target.as_str()),
            other => panic!("{other:?}"),
        })
        .collect();
    let d = "{thing:dev-h-0}".to_string();
    assert_eq!(
        timeline,
        [
            (
                d.clone(),
                0,
                5,
                "$aws/things/{thing:dev-h-0}/jobs/notify-next"
            ),
            (d.clone(), 1, 20, "/things/{thing:dev-h-0}/jobs/$next"),
            (d.clone(), 2, 25, "$aws/things/{thing:dev-h-0}/jobs/notify"),
        ]
    );
    let Line::Event(e) = &capture.lines[0].value else {
        unreachable!()
    };
    assert_eq!(e.body, r#"{"execution":{"thingName":"{thing:dev-h-0}"}}"#);
}
