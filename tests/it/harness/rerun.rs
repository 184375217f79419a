//! What a report prints is enough to act on: the re-run command of a failed case, run as
//! printed, repeats exactly that case and its failure, and names no option the user did not
//! choose; the `curl` line of a cited exchange, run as printed by a shell, gets the answer the
//! report shows, signed from the shell's environment when the run was signed.

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

use crate::common::process::{Process, Ran, args};
use crate::common::report::run_summary;
use crate::common::{self, root, scratch};

/// Clock speed of the reference behind the broken target.
const TIME_SCALE: f64 = 600.0;
/// Longest a run of the selected cases may take.
const RUN_LIMIT: Duration = Duration::from_secs(120);
const ERROR_TYPE: &str = "x-amzn-errortype";
/// Credentials of the signed run; none of them may appear in its reports.
const CREDENTIALS: [(&str, &str); 3] = [
    ("AWS_ACCESS_KEY_ID", "AKIDRERUNEXAMPLE"),
    ("AWS_SECRET_ACCESS_KEY", "wJalrRERUNSECRET"),
    ("AWS_SESSION_TOKEN", "RERUNSESSIONTOKEN"),
];
/// The scope a signed data-plane request names in its `authorization` header.
const DATA_SCOPE: &str = "/iot-jobs-data/aws4_request";

/// Where the broken target forwards to, and whether it answers an unsigned request as a
/// target that picks the service by the signature's scope does (405 with an XML body).
struct Broken {
    client: reqwest::Client,
    upstream: String,
    signed_only: bool,
}

/// A data plane that names every InvalidRequestException ResourceNotFoundException (header
/// only, which is what the SDKs read first): a target broken in one way.
async fn retype(
    State(state): State<Arc<Broken>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Broken {
        client,
        upstream,
        signed_only,
    } = &*state;
    let scoped = headers
        .get(header::AUTHORIZATION)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains(DATA_SCOPE));
    if *signed_only && !scoped {
        return Response::builder()
            .status(405)
            .header(header::CONTENT_TYPE, "application/xml")
            .body(Body::from(
                "<?xml version=\"1.0\"?><Error><Code>MethodNotAllowed</Code></Error>",
            ))
            .expect("a response");
    }
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

/// Serves [`retype`] in front of `upstream` on a free port (refusing unsigned requests when
/// `signed_only`); returns its base URL.
async fn broken_target(
    upstream: String,
    signed_only: bool,
) -> (String, tokio::task::JoinHandle<()>) {
    let state = Arc::new(Broken {
        client: reqwest::Client::new(),
        upstream,
        signed_only,
    });
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

/// Runs the `jobcert` command `words` (its first word is the program's name) in `dir`, with
/// `env` set or removed, and without `AWS_REGION` unless `env` sets it.
async fn run_in(dir: &Path, words: Vec<String>, env: &'static [(&str, Option<&str>)]) -> Ran {
    assert_eq!(words.first().map(String::as_str), Some("jobcert"));
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut env = env.to_vec();
        if !env.iter().any(|(name, _)| *name == "AWS_REGION") {
            env.push(("AWS_REGION", None));
        }
        Process::spawn_env(&args(&words[1..]), &dir, &dir, &env).finish(RUN_LIMIT)
    })
    .await
    .expect("the run's thread")
}

/// The environment of the signed run, and of the shell that runs its curl line.
const SIGNED_ENV: &[(&str, Option<&str>)] = &[
    ("AWS_ACCESS_KEY_ID", Some(CREDENTIALS[0].1)),
    ("AWS_SECRET_ACCESS_KEY", Some(CREDENTIALS[1].1)),
    ("AWS_SESSION_TOKEN", Some(CREDENTIALS[2].1)),
];

/// The `re-run:` line the console summary prints under the FAIL line of `case`.
fn printed_rerun<'a>(ran: &'a Ran, case: &str) -> &'a str {
    ran.stdout
        .lines()
        .skip_while(|l| !l.starts_with("FAIL ") || !l.contains(case))
        .find_map(|l| l.strip_prefix("    re-run: "))
        .unwrap_or_else(|| panic!("no re-run line for {case}: {ran}"))
}

/// The only run folder under `reports`.
fn run_folder(reports: &Path) -> std::path::PathBuf {
    std::fs::read_dir(reports)
        .expect("reports")
        .next()
        .expect("a run folder")
        .expect("an entry")
        .path()
}

/// The status the first answered exchange of `html` shows, and its curl line.
fn shown_and_curl(html: &str) -> (String, String) {
    html.split("<h4>Exchange #")
        .skip(1)
        .find_map(|exchange| {
            let shown = exchange.split("<h5>Response</h5>").nth(1)?;
            let shown = shown.trim_start().strip_prefix("<pre>")?;
            let shown = shown.split_whitespace().next()?.to_string();
            let curl = pres(exchange, "resend").into_iter().next()?;
            Some((shown, curl))
        })
        .expect("an answered exchange with its curl line")
}

/// Runs `curl` as a POSIX shell runs the line as printed, with `env` set or removed; the
/// status it got.
fn status_of(curl: &str, env: &[(&str, Option<&str>)]) -> String {
    assert!(curl.starts_with("curl "), "{curl}");
    let mut shell = Command::new("sh");
    shell.arg("-c").arg(curl);
    for (name, value) in env {
        match value {
            Some(v) => shell.env(name, v),
            None => shell.env_remove(name),
        };
    }
    let out = shell.output().expect("sh runs");
    let answer = String::from_utf8_lossy(&out.stdout);
    answer
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("no status line from {curl}: {answer}"))
        .to_string()
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
    let (target, proxy) = broken_target(common::data_url(&server), false).await;
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
    let ran = run_in(first.path(), command.to_vec(), &[]).await;
    assert_eq!(ran.code, Some(1), "the broken target fails: {ran}");
    assert!(
        ran.stderr.contains("go out unsigned") && ran.stderr.contains("AWS_ACCESS_KEY_ID"),
        "an unsigned run says so before it starts: {ran}"
    );
    let failures = failed(&run_summary(&first.path().join("reports")));
    let (case, cited) = failures.first().expect("a failed case").clone();
    assert!(cited.contains("SN-STEP-RANGE"), "{failures:?}");

    // The console summary prints the command under the case's FAIL line.
    let printed = printed_rerun(&ran, &case);
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
    let html =
        std::fs::read_to_string(run_folder(&first.path().join("reports")).join("report.html"))
            .expect("report.html");
    assert!(
        pres(&html, "rerun").contains(&printed.to_string()),
        "report.html prints the same command"
    );

    let second = scratch("rerun-second");
    let again = run_in(second.path(), rerun, &[]).await;
    assert_eq!(again.code, Some(1), "the re-run fails again: {again}");
    let summary = run_summary(&second.path().join("reports"));
    assert_eq!(summary["totals"]["cases"], 1, "exactly that case: {again}");
    assert_eq!(failed(&summary), [(case, cited)]);

    // The curl line of an exchange the failure cites gets the status the report shows.
    let (shown, curl) = shown_and_curl(&html);
    assert!(!curl.contains("--aws-sigv4"), "an unsigned run: {curl}");
    assert_eq!(status_of(&curl, &[]), shown, "{curl}");
    proxy.abort();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_run_prints_lines_that_sign_from_the_environment_and_choose_nothing() {
    let server = common::server(TIME_SCALE).await;
    let (target, proxy) = broken_target(common::data_url(&server), true).await;
    let run = scratch("rerun-signed");
    let command = vec![
        "jobcert".to_string(),
        "run".into(),
        root().join("scenarios/conformance").display().to_string(),
        "--target".into(),
        target,
        "--control".into(),
        common::control_url(&server),
        "--target-time-scale".into(),
        TIME_SCALE.to_string(),
        "--only".into(),
        "SN-STEP-RANGE".into(),
    ];
    let ran = run_in(run.path(), command, SIGNED_ENV).await;
    assert_eq!(ran.code, Some(1), "signed, the broken target fails: {ran}");
    assert!(!ran.stderr.contains("unsigned"), "{ran}");
    let folder = run_folder(&run.path().join("reports"));
    let failures = failed(&run_summary(&run.path().join("reports")));
    let (case, _) = failures.first().expect("a failed case");

    // Neither --region nor --account-id was chosen, so the re-run line names neither.
    let printed = words(printed_rerun(&ran, case));
    for option in ["--region", "--account-id"] {
        assert!(!printed.iter().any(|w| w == option), "{printed:?}");
    }

    let html = std::fs::read_to_string(folder.join("report.html")).expect("report.html");
    let (shown, curl) = shown_and_curl(&html);
    for part in [
        " --aws-sigv4 aws:amz:us-east-1:iot-jobs-data ",
        r#" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" "#,
        r#" -H "x-amz-security-token: $AWS_SESSION_TOKEN""#,
    ] {
        assert!(curl.contains(part), "{part:?} missing from: {curl}");
    }
    assert!(!curl.to_ascii_lowercase().contains("x-amz-date"), "{curl}");
    assert_eq!(status_of(&curl, SIGNED_ENV), shown, "{curl}");

    // No credential reaches any file of the run.
    for entry in std::fs::read_dir(&folder).expect("the run folder") {
        let path = entry.expect("an entry").path();
        let text = String::from_utf8_lossy(&std::fs::read(&path).expect("a file")).into_owned();
        for (name, value) in CREDENTIALS {
            assert!(!text.contains(value), "{name} in {}", path.display());
        }
    }
    proxy.abort();
    server.shutdown().await;
}
