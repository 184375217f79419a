//! A trivial HTTP target for `bench/run.sh`: the same stack as `jobcert serve` (tokio's default
//! multi-thread runtime, axum 0.8 served on a tokio `TcpListener`), with none of its work.
//!
//! - `PUT /things/{thingName}/jobs/$next` (StartNextPendingJobExecution; `%24next` too) answers
//!   200 with one fixed IN_PROGRESS execution, built once at start-up and checked against
//!   `schemas/http/start-next-pending-job-execution.response.json`; the same bytes every time.
//! - `POST|PUT /things/{thingName}` (CreateThing) and `PUT /jobs/{jobId}` (CreateJob) answer
//!   like the control plane, so a fleet run can seed against this target.
//! - Anything else: 404 `{"message":"not found"}`.
//!
//! `--delay-ms N` holds every data-plane answer N ms after the request arrived;
//! `--stall-after-s S --stall-for-ms M` holds, once, every data-plane answer whose request
//! arrives in the window [S, S + M) after start-up until the window ends (a server stall).
//! Holds are timed by one thread with a condition variable, not by tokio's millisecond timer
//! wheel, so a 20 ms hold is 20 ms (to tens of microseconds), not "20 to 21 ms".
//!
//! Prints `listening http://ADDR` as its first line on stdout. `--print-start-next` prints the
//! fixed StartNext answer instead and exits (bench/run.sh serves it from nginx too).
//!
//! ```sh
//! cargo run --release --example bench_target -- --listen 127.0.0.1:0 --delay-ms 20
//! ```

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use clap::Parser;
use jobcert_contract::{Binding, NEXT_EXECUTION, Operation};
use serde_json::json;
use tokio::sync::oneshot;

const REGION: &str = "us-east-1";
const ACCOUNT: &str = "123456789012";
/// Largest request body read (the bodies sent here are a few bytes).
const BODY_LIMIT: usize = 64 * 1024;

/// A trivial StartNextPendingJobExecution target for benchmarks.
#[derive(Debug, Parser)]
#[command(name = "bench_target")]
struct Args {
    /// Listen address (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Hold every data-plane answer this many milliseconds after its request arrived.
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
    /// Seconds after start-up at which the one stall begins.
    #[arg(long)]
    stall_after_s: Option<f64>,
    /// Length of the stall, in milliseconds.
    #[arg(long, default_value_t = 1000, requires = "stall_after_s")]
    stall_for_ms: u64,
    /// Print the fixed StartNext answer (checked against its schema) and exit, for another
    /// server to serve the same bytes.
    #[arg(long)]
    print_start_next: bool,
}

/// What every handler shares.
struct Target {
    /// The StartNext answer, the same bytes every time.
    body: Bytes,
    delay: Duration,
    /// The stall window `[start, end)`.
    stall: Option<(Instant, Instant)>,
    timer: Arc<HoldTimer>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.print_start_next {
        let mut out = std::io::stdout().lock();
        out.write_all(&start_next_body()?)?;
        writeln!(out)?;
        return Ok(());
    }
    let started = Instant::now();
    let stall = match args.stall_after_s {
        Some(s) if !(s.is_finite() && s >= 0.0) => bail!("--stall-after-s must be 0 or more"),
        Some(s) => {
            let from = started + Duration::from_secs_f64(s);
            Some((from, from + Duration::from_millis(args.stall_for_ms)))
        }
        None => None,
    };
    let target = Arc::new(Target {
        body: start_next_body()?,
        delay: Duration::from_millis(args.delay_ms),
        stall,
        timer: HoldTimer::start(),
    });
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening http://{addr}")?;
        out.flush()?;
    }
    let app = Router::new().fallback(dispatch).with_state(target);
    axum::serve(listener, app).await?;
    Ok(())
}

/// The fixed StartNext answer, refused at start-up if the response schema refuses it.
fn start_next_body() -> anyhow::Result<Bytes> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let body = json!({
        "execution": {
            "jobId": "bench-job",
            "thingName": "bench-thing",
            "status": "IN_PROGRESS",
            "queuedAt": now - 1,
            "startedAt": now,
            "lastUpdatedAt": now,
            "versionNumber": 2,
            "executionNumber": 1,
            "jobDocument": "{\"op\":\"x\"}",
        }
    });
    let schema = Operation::StartNextPendingJobExecution.response_schema_for(Binding::Http)?;
    if let Some(v) = schema.first_violation(&body) {
        bail!("the fixed answer breaks {}: {v}", schema.path());
    }
    let route = Operation::StartNextPendingJobExecution
        .request_schema_for(Binding::Http)?
        .http_binding()
        .map(|(m, u)| (m.to_string(), u.to_string()));
    let expected = (
        "PUT".to_string(),
        format!("/things/{{thingName}}/jobs/{NEXT_EXECUTION}"),
    );
    if route.as_ref() != Some(&expected) {
        bail!("the schemas bind StartNext to {route:?}, this target serves {expected:?}");
    }
    Ok(Bytes::from(serde_json::to_vec(&body)?))
}

/// Routes one request on its raw path.
async fn dispatch(State(target): State<Arc<Target>>, request: Request) -> Response {
    let arrived = Instant::now();
    let (parts, body) = request.into_parts();
    let path = parts.uri.path();
    let mut segments = path.strip_prefix('/').unwrap_or(path).split('/');
    let segs: [Option<&str>; 5] = std::array::from_fn(|_| segments.next());
    match (&parts.method, segs) {
        (&Method::PUT, [Some("things"), Some(t), Some("jobs"), Some(next), None])
            if !t.is_empty()
                && (next == NEXT_EXECUTION || next.eq_ignore_ascii_case("%24next")) =>
        {
            if axum::body::to_bytes(body, BODY_LIMIT).await.is_err() {
                return json_response(StatusCode::BAD_REQUEST, r#"{"message":"bad body"}"#.into());
            }
            target.hold(arrived).await;
            json_response(StatusCode::OK, target.body.clone())
        }
        (&Method::PUT | &Method::POST, [Some("things"), Some(name), None, None, None])
            if !name.is_empty() =>
        {
            let _ = axum::body::to_bytes(body, BODY_LIMIT).await;
            let name = decode(name);
            let answer = json!({
                "thingName": name,
                "thingArn": format!("arn:aws:iot:{REGION}:{ACCOUNT}:thing/{name}"),
                "thingId": uuid::Uuid::new_v4().to_string(),
            });
            json_response(StatusCode::OK, answer.to_string().into())
        }
        (&Method::PUT, [Some("jobs"), Some(id), None, None, None]) if !id.is_empty() => {
            let _ = axum::body::to_bytes(body, BODY_LIMIT).await;
            let id = decode(id);
            let answer = json!({
                "jobId": id,
                "jobArn": format!("arn:aws:iot:{REGION}:{ACCOUNT}:job/{id}"),
            });
            json_response(StatusCode::OK, answer.to_string().into())
        }
        _ => json_response(StatusCode::NOT_FOUND, r#"{"message":"not found"}"#.into()),
    }
}

fn decode(label: &str) -> String {
    percent_encoding::percent_decode_str(label)
        .decode_utf8_lossy()
        .into_owned()
}

fn json_response(status: StatusCode, body: Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

impl Target {
    /// Waits until the answer to a request that arrived at `arrived` may leave.
    async fn hold(&self, arrived: Instant) {
        let mut until = arrived + self.delay;
        if let Some((from, to)) = self.stall
            && (from..to).contains(&arrived)
        {
            until = until.max(to);
        }
        if until > Instant::now() {
            self.timer.wait_until(until).await;
        }
    }
}

/// One thread that wakes waiters at their deadlines, to the precision of the OS's own sleep.
struct HoldTimer {
    queue: Mutex<Queue>,
    changed: Condvar,
}

#[derive(Default)]
struct Queue {
    heap: BinaryHeap<Reverse<Entry>>,
    next_seq: u64,
}

struct Entry {
    at: Instant,
    seq: u64,
    wake: oneshot::Sender<()>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

impl HoldTimer {
    fn start() -> Arc<Self> {
        let timer = Arc::new(Self {
            queue: Mutex::new(Queue::default()),
            changed: Condvar::new(),
        });
        let worker = timer.clone();
        std::thread::Builder::new()
            .name("hold-timer".into())
            .spawn(move || worker.run())
            .expect("spawning the hold timer thread");
        timer
    }

    async fn wait_until(&self, at: Instant) {
        let (wake, woken) = oneshot::channel();
        {
            let mut q = self.queue.lock().expect("hold timer lock");
            let seq = q.next_seq;
            q.next_seq += 1;
            let earliest = q.heap.peek().is_none_or(|Reverse(e)| at < e.at);
            q.heap.push(Reverse(Entry { at, seq, wake }));
            if earliest {
                self.changed.notify_one();
            }
        }
        let _ = woken.await;
    }

    fn run(&self) {
        let mut q = self.queue.lock().expect("hold timer lock");
        loop {
            let now = Instant::now();
            while q.heap.peek().is_some_and(|Reverse(e)| e.at <= now) {
                if let Some(Reverse(e)) = q.heap.pop() {
                    let _ = e.wake.send(());
                }
            }
            q = match q.heap.peek() {
                Some(Reverse(e)) => {
                    let wait = e.at.saturating_duration_since(now);
                    self.changed
                        .wait_timeout(q, wait)
                        .expect("hold timer lock")
                        .0
                }
                None => self.changed.wait(q).expect("hold timer lock"),
            };
        }
    }
}
