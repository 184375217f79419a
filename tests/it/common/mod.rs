//! Shared set-up for integration tests: an in-process reference server on free loopback ports,
//! seeding through its control plane over real HTTP, and scratch folders; child processes,
//! mosquitto, reports and the fault-target kit live in the submodules.

pub mod broker;
pub mod descriptors;
pub mod faults;
pub mod pki;
pub mod process;
pub mod proxy;
pub mod report;

use std::path::PathBuf;

use jobcert_reference::{RunningServer, ServeConfig};
use serde_json::{Value, json};
use tempfile::TempDir;

/// A fresh folder under the system temp dir whose name contains `label`; removed on drop.
pub fn scratch(label: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(&format!("jobcert-{label}-"))
        .tempdir()
        .expect("create a scratch folder")
}

/// Writing files into a scratch folder.
pub trait ScratchExt {
    /// Writes `content` to `name` inside the folder and returns its path.
    fn write(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf;
}

impl ScratchExt for TempDir {
    fn write(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path().join(name);
        std::fs::write(&path, content)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        path
    }
}

/// The crate root, where `scenarios/` and `schemas/` live.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A reference server in this process on free ports with the given virtual clock speed.
pub async fn server(time_scale: f64) -> RunningServer {
    server_with(ServeConfig {
        time_scale,
        ..ServeConfig::default()
    })
    .await
}

/// A reference server in this process with `config` (whose addresses are free ports).
pub async fn server_with(config: ServeConfig) -> RunningServer {
    RunningServer::start(&config)
        .await
        .expect("reference server starts")
}

/// Base URL of the data plane.
pub fn data_url(server: &RunningServer) -> String {
    format!("http://{}", server.data_plane())
}

/// Base URL of the control plane.
pub fn control_url(server: &RunningServer) -> String {
    format!("http://{}", server.control_plane())
}

/// A thing ARN as the reference server names it.
pub fn thing_arn(thing: &str) -> String {
    format!("arn:aws:iot:us-east-1:123456789012:thing/{thing}")
}

/// Creates `thing` through the control plane.
pub async fn create_thing(server: &RunningServer, thing: &str) {
    let url = format!("{}/things/{}", control_url(server), encode(thing));
    let r = reqwest::Client::new()
        .post(url)
        .json(&json!({}))
        .send()
        .await
        .expect("CreateThing");
    assert_eq!(
        r.status(),
        200,
        "CreateThing {thing}: {}",
        r.text().await.unwrap_or_default()
    );
}

/// Creates job `job_id` targeting `things` with extra CreateJob members from `extra`.
pub async fn create_job(server: &RunningServer, job_id: &str, things: &[&str], extra: Value) {
    let mut body = json!({
        "targets": things.iter().map(|t| thing_arn(t)).collect::<Vec<_>>(),
        "document": format!("{{\"job\":\"{job_id}\"}}"),
    });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let url = format!("{}/jobs/{job_id}", control_url(server));
    let r = reqwest::Client::new()
        .put(url)
        .json(&body)
        .send()
        .await
        .expect("CreateJob");
    assert_eq!(
        r.status(),
        200,
        "CreateJob {job_id}: {}",
        r.text().await.unwrap_or_default()
    );
}

/// Percent-encodes a path label the way the AWS SDKs do.
pub fn encode(label: &str) -> String {
    percent_encoding::utf8_percent_encode(label, percent_encoding::NON_ALPHANUMERIC)
        .to_string()
        .replace("%2D", "-")
        .replace("%5F", "_")
        .replace("%2E", ".")
        .replace("%7E", "~")
}

/// A data-plane call: method, path (already encoded), optional raw body. Returns status,
/// the error type header (if any) and the JSON body.
pub async fn call(
    server: &RunningServer,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, Option<String>, Value) {
    let url = format!("{}{path}", data_url(server));
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = reqwest::Client::new().request(method, url);
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let r = req.send().await.expect("data-plane request");
    let status = r.status().as_u16();
    let error_type = r
        .headers()
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let text = r.text().await.expect("body");
    let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, error_type, json)
}

/// The `properties` members of a JSON Schema without a title or a description (only those of
/// titled objects when `titled_only`: untitled ones are `if`/`then` branches that narrow
/// members described elsewhere).
pub fn undescribed_properties(schema: &serde_json::Value, titled_only: bool) -> Vec<String> {
    use serde_json::Value;
    fn visit(node: &Value, at: &str, titled_only: bool, missing: &mut Vec<String>) {
        match node {
            Value::Object(map) => {
                let described = !titled_only || map.contains_key("title");
                if let (Some(Value::Object(props)), true) = (map.get("properties"), described) {
                    for (name, prop) in props {
                        for key in ["title", "description"] {
                            if prop
                                .get(key)
                                .and_then(Value::as_str)
                                .is_none_or(str::is_empty)
                            {
                                missing.push(format!("{at}/properties/{name}: no {key}"));
                            }
                        }
                    }
                }
                for (key, child) in map {
                    visit(child, &format!("{at}/{key}"), titled_only, missing);
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    visit(child, &format!("{at}/{i}"), titled_only, missing);
                }
            }
            _ => {}
        }
    }
    let mut missing = Vec::new();
    visit(schema, "#", titled_only, &mut missing);
    missing
}

/// Everything the peer sends on `stream` until it closes, or `None` if it is still open after
/// `within`.
pub async fn read_until_closed(
    stream: &mut tokio::net::TcpStream,
    within: std::time::Duration,
) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .ok()?;
    Some(seen)
}
