//! The conformance runner: seeds each case through the control plane, plays its steps against
//! the data plane, and has every answer judged. Cases have run-unique names, so they run
//! side by side and re-runs against a persistent target never collide. A case that came late
//! past a timer deadline is played again alone (`premise`).

mod case;
mod certificate;
mod premise;
mod seed;
pub mod status;
mod throttle;

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use self::premise::Attempts;
pub use self::status::{RunStatus, StatusBoard, Wait};
use super::refusal::CredentialsRefused;
use crate::finding::Profile;
use crate::plan::Plan;
use crate::record::CaseRecord;
use crate::transport::http::HttpTransport;
use crate::transport::mqtt::{Dial, MqttTransport};
use crate::transport::{ControlClient, DataClient, DataPlane, Heard, RateLimit, Target};

/// How a run behaves.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Run id, appended to every name the run creates.
    pub run_id: String,
    /// Default deadline of one request.
    pub deadline: Duration,
    /// Longest real wait a `wait` step may take.
    pub max_wait: Duration,
    /// Cases run side by side.
    pub concurrency: usize,
    /// How strictly answers are weighed (status codes of throttling).
    pub profile: Profile,
    /// The instant exchange timings count from (one for every binding of a run).
    pub origin: Instant,
    /// The run's request rate, data and control plane together; none when unlimited.
    pub rate: Option<RateLimit>,
    /// Where to keep the run's progress, for a display; none when nothing shows it.
    pub status: Option<StatusBoard>,
    /// Where MQTT devices also keep the notifications they hear, for a capture.
    pub heard: Option<Heard>,
}

/// What a run of a plan did.
#[derive(Debug)]
pub struct Driven {
    /// The records of the cases that started, in plan order.
    pub cases: Vec<CaseRecord>,
    /// The target refused the run's credentials (signature or client certificate): no case was
    /// started after the first answer saying so, and the records are not worth judging.
    pub refused: Option<CredentialsRefused>,
}

/// Runs every case of `plan` against `target`; stops starting cases once `stop` is cancelled,
/// or once the target refused the run's credentials (every later request would meet the same).
/// Records come back in plan order; a case that never started is left out.
pub async fn run(
    plan: &Plan,
    target: &Target,
    settings: &Settings,
    stop: CancellationToken,
) -> Driven {
    let halt = stop.child_token();
    let refused: Arc<Mutex<Option<CredentialsRefused>>> = Arc::default();
    let http = HttpTransport::new(settings.origin, target.signer.clone(), &target.tls);
    let control = Arc::new(
        ControlClient::new(http.clone(), target.control.clone(), settings.deadline)
            .with_rate(settings.rate.clone()),
    );
    let mut client = match &target.data {
        DataPlane::Http(endpoint) => DataClient::pooled(http, endpoint.clone(), None),
        DataPlane::Mqtt(broker) => DataClient::per_thing(Arc::new(
            MqttTransport::new(
                Dial::new(broker.clone(), target.signer.clone(), target.tls.clone()),
                settings.origin,
            )
            .hearing(settings.heard.clone()),
        )),
    }
    .with_rate(settings.rate.clone());
    let seq = Arc::new(AtomicU64::new(0));
    let gate = Arc::new(Semaphore::new(settings.concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, case) in plan.cases.iter().enumerate() {
        let permit = tokio::select! {
            p = gate.clone().acquire_owned() => p.expect("semaphore open"),
            () = halt.cancelled() => break,
        };
        let shared = client.share().expect("a shared pool or broker");
        let (case, target, settings, control, seq, stop, gate) = (
            case.clone(),
            target.clone(),
            settings.clone(),
            control.clone(),
            seq.clone(),
            stop.clone(),
            gate.clone(),
        );
        let (halt, refused) = (halt.clone(), refused.clone());
        tasks.spawn(async move {
            if let Some(board) = &settings.status {
                board.started();
            }
            let attempts = Attempts {
                case: &case,
                index,
                target: &target,
                settings: &settings,
                seq,
                client: shared,
                control: &control,
            };
            let record = attempts.play(gate, permit, &stop).await;
            if let Some(refusal) = CredentialsRefused::first_in(&record) {
                refused
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_or_insert(refusal);
                halt.cancel();
            }
            if let Some(board) = &settings.status {
                board.finished(&record);
            }
            (index, record)
        });
    }
    let mut records = Vec::new();
    while let Some(done) = tasks.join_next().await {
        if let Ok(r) = done {
            records.push(r);
        }
    }
    client.close().await;
    records.sort_by_key(|(i, _)| *i);
    let refused = refused.lock().unwrap_or_else(|p| p.into_inner()).take();
    Driven {
        cases: records.into_iter().map(|(_, r)| r).collect(),
        refused,
    }
}
