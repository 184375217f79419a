//! TLS on both sides, with a PKI from `jobcert pki`: the reference over `https://` and its
//! mTLS data plane (`serve.rs`), and the PKI files themselves (`pki.rs`).

mod pki;
mod serve;
