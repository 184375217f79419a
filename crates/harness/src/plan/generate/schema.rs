//! The string constraints of a request member, resolved from the schemas (`$ref`s followed,
//! local keywords merged).

use serde_json::Value;

use jobcert_contract::file;

/// A string constraint, resolved from the schema.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Text {
    pub(super) min: Option<u64>,
    pub(super) max: Option<u64>,
}

/// Follows `$ref`s from `schemas/<from>` to the definition, merging local keywords; returns
/// the definition and the file it is in (where its own `$ref`s resolve).
pub(super) fn resolve(from: &str, node: &Value) -> (Value, String) {
    let Some(reference) = node.get("$ref").and_then(Value::as_str) else {
        return (node.clone(), from.to_string());
    };
    let (path, pointer) = reference.split_once('#').unwrap_or((reference, ""));
    let target_file = if path.is_empty() {
        from.to_string()
    } else {
        let base = from.rsplit_once('/').map_or("", |(dir, _)| dir);
        normalize(&format!("{base}/{path}"))
    };
    let doc: Value = file(&target_file)
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default();
    let (mut resolved, home) = resolve(&target_file, doc.pointer(pointer).unwrap_or(&Value::Null));
    if let (Some(out), Some(local)) = (resolved.as_object_mut(), node.as_object()) {
        for (k, v) in local {
            if k != "$ref" {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    (resolved, home)
}

fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

pub(super) fn text(schema: &Value) -> Text {
    Text {
        min: schema["minLength"].as_u64(),
        max: schema["maxLength"].as_u64(),
    }
}
