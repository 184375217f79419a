//! TLS on both sides, with a PKI from `jobcert pki`: the reference over `https://` and its
//! mTLS data plane (`serve.rs`), its MQTT over TLS, `wss://` and `--policy own-thing`
//! (`serve_mqtts.rs`), the PKI files themselves (`pki.rs`), and the harness over TLS: runs,
//! SN-CERTIFICATE, a fleet with per-device certificates, no key in any output (`run.rs`); and
//! over MQTT over TLS through mosquitto (`mqtts.rs`).

mod mqtts;
mod pki;
mod run;
mod serve;
mod serve_mqtts;
