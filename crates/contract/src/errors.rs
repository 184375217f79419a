//! Error types of the API and their wire status, read from `schemas/errors.json`.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;

/// The modelled error types the reference server emits and the harness recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Malformed input or a constraint violation.
    InvalidRequest,
    /// The thing, job or execution does not exist.
    ResourceNotFound,
    /// The requested status is not reachable, or expectedVersion does not match.
    InvalidStateTransition,
    /// The job or execution is gone or terminal (Describe).
    TerminalState,
    /// Rate exceeded.
    Throttling,
    /// Service fault.
    ServiceUnavailable,
    /// Control plane: the resource exists already.
    ResourceAlreadyExists,
    /// The method and path name no operation.
    UnknownOperation,
}

impl ErrorKind {
    /// The error type name as it travels in `x-amzn-ErrorType` and `__type`.
    pub fn type_name(self) -> &'static str {
        match self {
            Self::InvalidRequest => "InvalidRequestException",
            Self::ResourceNotFound => "ResourceNotFoundException",
            Self::InvalidStateTransition => "InvalidStateTransitionException",
            Self::TerminalState => "TerminalStateException",
            Self::Throttling => "ThrottlingException",
            Self::ServiceUnavailable => "ServiceUnavailableException",
            Self::ResourceAlreadyExists => "ResourceAlreadyExistsException",
            Self::UnknownOperation => "UnknownOperationException",
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorRow {
    http_status: u16,
    mqtt_code: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorTable {
    data_plane: HashMap<String, ErrorRow>,
    control_plane: HashMap<String, ErrorRow>,
    protocol: HashMap<String, ErrorRow>,
}

fn table() -> &'static ErrorTable {
    static TABLE: OnceLock<ErrorTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let text = super::file("errors.json").expect("schemas/errors.json is embedded");
        serde_json::from_str(text).expect("schemas/errors.json is well-formed")
    })
}

/// The HTTP status for an error type: the data-plane row, else the control-plane or protocol row.
pub fn error_status(kind: ErrorKind) -> u16 {
    let t = table();
    t.data_plane
        .get(kind.type_name())
        .or_else(|| t.control_plane.get(kind.type_name()))
        .or_else(|| t.protocol.get(kind.type_name()))
        .map(|row| row.http_status)
        .unwrap_or_else(|| panic!("schemas/errors.json has no row for {}", kind.type_name()))
}

/// The MQTT rejected code of an error type, where the API has one.
pub fn mqtt_code(kind: ErrorKind) -> Option<&'static str> {
    table()
        .data_plane
        .get(kind.type_name())
        .and_then(|row| row.mqtt_code.as_deref())
}

/// The HTTP error type a MQTT rejected code stands for, where there is one.
pub fn type_for_mqtt_code(code: &str) -> Option<&'static str> {
    table()
        .data_plane
        .iter()
        .find(|(_, row)| row.mqtt_code.as_deref() == Some(code))
        .map(|(name, _)| name.as_str())
}
