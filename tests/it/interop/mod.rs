//! Wire compatibility with real AWS clients. The AWS SDK for Rust runs in-process; boto3, the
//! AWS CLI and the AWS IoT Device SDK v2 run from the Python venv (directly, and through the
//! recording proxy), so their tests are
//! `#[ignore]`d and fail when run without it.

mod boto3;
mod boto3_sigv4;
mod device_sdk;
mod proxied;
mod rust_sdk;

use std::path::PathBuf;

use crate::common::root;

/// The interpreter of the Python interop scripts: `$JOBCERT_PYTHON`, else the crate's `.venv`.
/// Fails the test when there is none.
fn python() -> PathBuf {
    let python = std::env::var_os("JOBCERT_PYTHON")
        .map_or_else(|| root().join(".venv/bin/python"), PathBuf::from);
    assert!(
        python.exists(),
        "no Python at {} (or set JOBCERT_PYTHON); create the venv as the README says: \
         python3 -m venv .venv && .venv/bin/pip install -r tests/interop/requirements.txt",
        python.display()
    );
    python
}
