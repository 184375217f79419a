//! Loading and compiling the JSON Schemas of `schemas/`.

use std::collections::HashMap;
use std::sync::OnceLock;

use jsonschema::{Retrieve, Uri, Validator};
use serde_json::Value;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/schema_files.rs"));
}

/// Base URI under which the embedded files resolve each other's relative `$ref`s.
const BASE: &str = "https://jobcert.invalid/schemas/";

/// The text of one embedded file of `schemas/`, by its path relative to that folder.
pub fn file(path: &str) -> Option<&'static str> {
    embedded::FILES
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, text)| *text)
}

/// Every embedded file of `schemas/` as (path relative to that folder, text), in path order:
/// what a run's manifest hashes to say which contract judged it.
pub fn files() -> impl Iterator<Item = (&'static str, &'static str)> {
    embedded::FILES.iter().copied()
}

/// A schema file failed to load or compile: a defect of the build, reported once at start.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// No such file under `schemas/`.
    #[error("no schema file {0}")]
    Missing(String),
    /// The file is not JSON.
    #[error("schema file {path} is not JSON: {source}")]
    Json {
        /// File path relative to `schemas/`.
        path: String,
        /// The parse error.
        source: serde_json::Error,
    },
    /// The file is not a valid schema, or a `$ref` does not resolve.
    #[error("schema file {path} does not compile: {message}")]
    Compile {
        /// File path relative to `schemas/`.
        path: String,
        /// What the compiler said.
        message: String,
    },
}

/// One way an instance breaks a schema: where, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Dotted path of the offending member (`statusDetails.key`), or empty for the whole body.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
    /// The schema keywords that lead to the broken one, dotted
    /// (`properties.execution.$ref.additionalProperties.maxLength`): what a cause is read from.
    pub keyword_path: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

/// A compiled schema together with its source document.
pub struct Schema {
    path: &'static str,
    document: Value,
    validator: Validator,
}

impl Schema {
    /// The file this schema was compiled from, relative to `schemas/`.
    pub fn path(&self) -> &'static str {
        self.path
    }

    /// The schema document itself (generators and binding code read annotations from it).
    pub fn document(&self) -> &Value {
        &self.document
    }

    /// Every violation of the schema by `instance`, empty when it conforms.
    pub fn violations(&self, instance: &Value) -> Vec<Violation> {
        // Nearly every instance is valid: checking that is far cheaper than collecting errors.
        if self.validator.is_valid(instance) {
            return Vec::new();
        }
        self.validator
            .iter_errors(instance)
            .map(|e| Violation {
                field: e
                    .instance_path()
                    .to_string()
                    .trim_start_matches('/')
                    .replace('/', "."),
                message: e.to_string(),
                keyword_path: e
                    .schema_path()
                    .to_string()
                    .trim_start_matches('/')
                    .replace('/', "."),
            })
            .collect()
    }

    /// The first violation, if any.
    pub fn first_violation(&self, instance: &Value) -> Option<Violation> {
        self.violations(instance).into_iter().next()
    }

    /// Where a top-level member travels on the HTTP wire (`uri`, `querystring`), `None` for the body.
    pub fn location(&self, member: &str) -> Option<&str> {
        self.property(member)?.get("x-location")?.as_str()
    }

    /// The JSON type a member declares inline (`boolean`, `integer`, ...), used to read
    /// query-string values; members without an inline type stay strings.
    pub fn inline_type(&self, member: &str) -> Option<&str> {
        self.property(member)?.get("type")?.as_str()
    }

    /// Names of the top-level members declared with the given `x-location`.
    pub fn members_at<'a>(&'a self, location: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.document
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|props| props.iter())
            .filter(move |(_, p)| p.get("x-location").and_then(Value::as_str) == Some(location))
            .map(|(name, _)| name.as_str())
    }

    /// The HTTP method and URI template of the operation (`x-http`).
    pub fn http_binding(&self) -> Option<(&str, &str)> {
        let binding = self.document.get("x-http")?;
        Some((
            binding.get("method")?.as_str()?,
            binding.get("uri")?.as_str()?,
        ))
    }

    /// The MQTT topic template of the operation (`x-mqtt`).
    pub fn mqtt_topic(&self) -> Option<&str> {
        self.document.get("x-mqtt")?.get("topic")?.as_str()
    }

    fn property(&self, member: &str) -> Option<&Value> {
        self.document.get("properties")?.get(member)
    }
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schema").field("path", &self.path).finish()
    }
}

struct EmbeddedRetriever;

impl Retrieve for EmbeddedRetriever {
    fn retrieve(
        &self,
        uri: &Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let text = uri
            .as_str()
            .strip_prefix(BASE)
            .and_then(file)
            .ok_or_else(|| format!("{uri} is not an embedded schema"))?;
        Ok(serde_json::from_str(text)?)
    }
}

/// Every schema of `schemas/`, compiled once.
pub struct SchemaSet {
    compiled: HashMap<&'static str, Schema>,
}

impl SchemaSet {
    /// Compiles every `*.json` schema file (files with a `$schema` member) under `schemas/`.
    pub fn load() -> Result<Self, SchemaError> {
        let mut compiled = HashMap::new();
        for (path, text) in embedded::FILES {
            let document: Value =
                serde_json::from_str(text).map_err(|source| SchemaError::Json {
                    path: (*path).to_string(),
                    source,
                })?;
            if document.get("$schema").is_none() || path.starts_with("model/") {
                continue;
            }
            let validator = jsonschema::options()
                .with_base_uri(format!("{BASE}{path}"))
                .with_retriever(EmbeddedRetriever)
                .with_pattern_options(jsonschema::PatternOptions::regex())
                .build(&document)
                .map_err(|e| SchemaError::Compile {
                    path: (*path).to_string(),
                    message: e.to_string(),
                })?;
            compiled.insert(
                *path,
                Schema {
                    path,
                    document,
                    validator,
                },
            );
        }
        Ok(Self { compiled })
    }

    /// The compiled schema at `path` (relative to `schemas/`).
    pub fn get(&self, path: &str) -> Result<&Schema, SchemaError> {
        self.compiled
            .get(path)
            .ok_or_else(|| SchemaError::Missing(path.to_string()))
    }
}

/// The process-wide compiled schema set.
///
/// # Panics
/// If an embedded schema does not compile: that is a build defect, caught by the test suite.
pub fn schemas() -> &'static SchemaSet {
    static SET: OnceLock<SchemaSet> = OnceLock::new();
    SET.get_or_init(|| SchemaSet::load().unwrap_or_else(|e| panic!("embedded schemas: {e}")))
}
