//! The HTTP listeners of the reference server: the data plane (the four device operations) and
//! the control-plane subset used to seed state.

mod authentication;
mod client_certificate;
mod control_plane;
mod data_plane;
pub mod wire;

use std::sync::Arc;

use axum::{Extension, Router};

pub use authentication::Authenticator;
pub use jobcert_guard::{HttpLimits, serve};

use super::admission::Gate;
use super::engine::Engine;
use super::policy::Policy;

/// The data-plane application (REST-JSON, service `iot-jobs-data`).
pub fn data_plane(engine: Arc<Engine>, gate: Arc<Gate>) -> Router {
    Router::new()
        .fallback(data_plane::dispatch)
        .with_state(engine)
        .layer(Extension(gate))
        .layer(axum::middleware::map_response(wire::request_id))
}

/// The data-plane application behind the mTLS listener: every request whose connection's
/// client certificate is not usable is answered CertificateValidationException (spec §5.7), and
/// every request `policy` does not allow ForbiddenException.
pub fn mtls_data_plane(engine: Arc<Engine>, gate: Arc<Gate>, policy: Policy) -> Router {
    data_plane(engine, gate).layer(axum::middleware::from_fn_with_state(
        policy,
        client_certificate::require_usable,
    ))
}

/// The control-plane application (REST-JSON, service `iot`; CreateThing, CreateJob, DescribeJob,
/// CancelJob, DescribeJobExecution).
pub fn control_plane(engine: Arc<Engine>, gate: Arc<Gate>) -> Router {
    Router::new()
        .fallback(control_plane::dispatch)
        .with_state(engine)
        .layer(Extension(gate))
        .layer(axum::middleware::map_response(wire::request_id))
}

/// `app` behind SigV4: every request whose signature does not check against `auth` is
/// answered as AWS answers it (spec §2.1).
pub fn signed(app: Router, auth: Authenticator) -> Router {
    app.layer(axum::middleware::from_fn_with_state(
        Arc::new(auth),
        authentication::require_signature,
    ))
}
