//! What a report prints is enough to act on: the re-run command of a failed case, run as
//! printed, repeats exactly that case and its failure; the `curl` line of a cited exchange,
//! run as printed, gets the answer the report shows.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, Uri, header};
use axum::response::Response;
use serde_json::Value;

use crate::common::process::{Ran, args, jobcert};
use crate::common::report::run_summary;
use crate::common::{self, root, scratch};

/// Clock speed of the reference behind the broken target.
const TIME_SCALE: f64 = 600.0;
/// Longest a run of the selected cases may take.
const RUN_LIMIT: Duration = Duration::from_secs(120);
const ERROR_TYPE: &str = "x-amzn-errortype";

/// A data plane that names every InvalidRequestException ResourceNotFoundException (header
/// only, which is what the SDKs read first): a target broken in one way.
async fn retype(
    State(state): State<Arc<(reqwest::Client, String)>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (client, upstream) = &*state;
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = client.request(method, format!("{upstream}{target}"));
    for (name, value) in &headers {
        if name != header::HOST && name != header::CONTENT_LENGTH {
            request = request.header(name, value);
        }
    }
    let answer = request
        .body(body)
        .send()
        .await
        .expect("the reference answers");
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        let renamed = name == ERROR_TYPE && value == "InvalidRequestException";
        if renamed {
            response = response.header(name, HeaderValue::from_static("ResourceNotFoundException"));
        } else if name != header::CONTENT_LENGTH && name != header::TRANSFER_ENCODING {
            response = response.header(name, value);
        }
    }
    let body = answer.bytes().await.unwrap_or_default();
    response.body(Body::from(body)).expect("a response")
}

/// Serves [`retype`] in front of `upstream` on a free port; returns its base URL.
async fn broken_target(upstream: String) -> (String, tokio::task::JoinHandle<()>) {
    let state = Arc::new((reqwest::Client::new(), upstream));
    let app = axum::Router::new().fallback(retype).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("the broken target binds");
    let base = format!("http://{}", listener.local_addr().expect("its address"));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, task)
}

/// `line` split into words as a POSIX shell splits plain, single-quoted and backslash-escaped
/// text (all a printed command uses), without running a shell.
fn words(line: &str) -> Vec<String> {
    let (mut out, mut word, mut started) = (Vec::new(), String::new(), false);
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                started = true;
                word.extend(chars.by_ref().take_while(|&q| q != '\''));
            }
            '\\' => {
                started = true;
                word.extend(chars.next());
            }
            c if c.is_whitespace() => {
                if started {
                    out.push(std::mem::take(&mut word));
                }
                started = false;
            }
            c => {
                started = true;
                word.push(c);
            }
        }
    }
    if started {
        out.push(word);
    }
    out
}

/// Runs the `jobcert` command `words` (its first word is the program's name) in `dir`.
async fn run_in(dir: &Path, words: Vec<String>) -> Ran {
    assert_eq!(words.first().map(String::as_str), Some("jobcert"));
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || jobcert(&args(&words[1..]), dir, RUN_LIMIT))
        .await
        .expect("the run's thread")
}

/// The summary's cases that failed, each with the requirement IDs of its failures.
fn failed(summary: &Value) -> Vec<(String, BTreeSet<String>)> {
    summary["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .filter(|c| c["verdict"] == "fail")
        .map(|c| {
            let cited = c["problems"]
                .as_array()
                .expect("problems")
                .iter()
                .filter(|p| p["severity"] == "failure")
                .map(|p| p["requirement"].as_str().expect("an ID").to_string())
                .collect();
            (c["id"].as_str().expect("an id").to_string(), cited)
        })
        .collect()
}

/// The text of every `<pre class="{class}">` of `html`, unescaped.
fn pres(html: &str, class: &str) -> Vec<String> {
    html.split(&format!(r#"<pre class="{class}">"#))
        .skip(1)
        .map(|s| {
            s[..s.find("</pre>").expect("a closed pre")]
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&#39;", "'")
                .replace("&amp;", "&")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_printed_rerun_repeats_exactly_the_failed_case() {
    let server = common::server(TIME_SCALE).await;
    let (target, proxy) = broken_target(common::data_url(&server)).await;
    let first = scratch("rerun-first");
    let scenarios = root().join("scenarios/conformance");
    let command = [
        "jobcert".to_string(),
        "run".into(),
        scenarios.display().to_string(),
        "--target".into(),
        target.clone(),
        "--control".into(),
        common::control_url(&server),
        "--target-time-scale".into(),
        TIME_SCALE.to_string(),
        "--region".into(),
        "eu-west-1".into(),
        "--account-id".into(),
        "210987654321".into(),
        "--only".into(),
        "SN-STEP-RANGE".into(),
    ];
    let ran = run_in(first.path(), command.to_vec()).await;
    assert_eq!(ran.code, Some(1), "the broken target fails: {ran}");
    let failures = failed(&run_summary(&first.path().join("reports")));
    let (case, cited) = failures.first().expect("a failed case").clone();
    assert!(cited.contains("SN-STEP-RANGE"), "{failures:?}");

    // The console summary prints the command under the case's FAIL line.
    let printed = ran
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("FAIL ") || !l.contains(&case))
        .find_map(|l| l.strip_prefix("    re-run: "))
        .unwrap_or_else(|| panic!("no re-run line for {case}: {ran}"));
    let rerun = words(printed);
    for option in ["--region", "--account-id", "--target", "--control"] {
        let at = rerun.iter().position(|w| w == option);
        let given = command.iter().position(|w| w == option).expect("given");
        assert_eq!(
            at.map(|i| &rerun[i + 1]),
            Some(&command[given + 1]),
            "{printed}"
        );
    }
    let html = std::fs::read_to_string(
        std::fs::read_dir(first.path().join("reports"))
            .expect("reports")
            .next()
            .expect("a run folder")
            .expect("an entry")
            .path()
            .join("report.html"),
    )
    .expect("report.html");
    assert!(
        pres(&html, "rerun").contains(&printed.to_string()),
        "report.html prints the same command"
    );

    let second = scratch("rerun-second");
    let again = run_in(second.path(), rerun).await;
    assert_eq!(again.code, Some(1), "the re-run fails again: {again}");
    let summary = run_summary(&second.path().join("reports"));
    assert_eq!(summary["totals"]["cases"], 1, "exactly that case: {again}");
    assert_eq!(failed(&summary), [(case, cited)]);

    // The curl line of an exchange the failure cites gets the status the report shows.
    let (shown, curl) = html
        .split("<h4>Exchange #")
        .skip(1)
        .find_map(|exchange| {
            let shown = exchange.split("<h5>Response</h5>").nth(1)?;
            let shown = shown.trim_start().strip_prefix("<pre>")?;
            let shown = shown.split_whitespace().next()?.to_string();
            let curl = pres(exchange, "resend").into_iter().next()?;
            Some((shown, curl))
        })
        .expect("an answered exchange with its curl line");
    let line = words(&curl);
    assert_eq!(line[0], "curl");
    let out = Command::new(&line[0])
        .args(&line[1..])
        .output()
        .expect("curl runs");
    let answer = String::from_utf8_lossy(&out.stdout);
    let status = answer.split_whitespace().nth(1).expect("a status line");
    assert_eq!(status, shown, "{curl}\n{answer}");
    proxy.abort();
    server.shutdown().await;
}
