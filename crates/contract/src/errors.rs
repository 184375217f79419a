//! Error types of the API and their wire status: every entry of `schemas/errors.json`, typed and
//! read once.

use std::collections::BTreeMap;
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
    /// The client certificate of an mTLS request is not usable (spec §5.7).
    CertificateValidation,
    /// Control plane: the resource exists already.
    ResourceAlreadyExists,
    /// Control plane: `expectedVersion` does not match the resource's version.
    VersionConflict,
    /// Control plane: the account holds as many of a resource as its limit allows.
    LimitExceeded,
    /// The method and path name no operation.
    UnknownOperation,
    /// SigV4: the request carries no signature.
    MissingAuthenticationToken,
    /// SigV4: the Authorization header lacks a member.
    IncompleteSignature,
    /// SigV4: the access key id (or session token) is not known.
    UnrecognizedClient,
    /// SigV4: the signature does not match, is out of scope, or is too far from the server's
    /// clock.
    InvalidSignature,
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
            Self::CertificateValidation => "CertificateValidationException",
            Self::ResourceAlreadyExists => "ResourceAlreadyExistsException",
            Self::VersionConflict => "VersionConflictException",
            Self::LimitExceeded => "LimitExceededException",
            Self::UnknownOperation => "UnknownOperationException",
            Self::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            Self::IncompleteSignature => "IncompleteSignatureException",
            Self::UnrecognizedClient => "UnrecognizedClientException",
            Self::InvalidSignature => "InvalidSignatureException",
        }
    }
}

/// The codes that exist only on `…/rejected` (the `mqttOnly` section of `errors.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MqttOnly {
    /// The topic names no Jobs operation.
    InvalidTopic,
    /// The payload is not a JSON object.
    InvalidJson,
    /// `expectedVersion` does not match.
    VersionMismatch,
}

impl MqttOnly {
    /// Every MQTT-only code.
    pub const ALL: [MqttOnly; 3] = [Self::InvalidTopic, Self::InvalidJson, Self::VersionMismatch];

    /// The code as it travels in a rejected payload.
    pub fn code(self) -> &'static str {
        match self {
            Self::InvalidTopic => "InvalidTopic",
            Self::InvalidJson => "InvalidJson",
            Self::VersionMismatch => "VersionMismatch",
        }
    }
}

/// One error type of a section of `errors.json`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ErrorType {
    /// The status the service models give it.
    pub http_status: u16,
    /// Other statuses it is seen with in practice (ThrottlingException as 400).
    #[serde(default)]
    pub also_seen_http_status: Vec<u16>,
    /// The code it travels as on `…/rejected`, where MQTT has one.
    pub mqtt_code: Option<String>,
}

/// A code that exists only on `…/rejected`, with the HTTP status class it is filed under.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MqttOnlyCode {
    /// The HTTP status class a harness files it under.
    pub http_status_equivalent: u16,
}

/// The whole of `schemas/errors.json`. Unknown members are refused, so a new fact in the file
/// must be typed here before anything can read it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ErrorTable {
    #[serde(rename = "$comment")]
    _comment: Option<String>,
    /// The device operations' errors, by type name.
    pub data_plane: BTreeMap<String, ErrorType>,
    /// The control-plane subset's errors, by type name.
    pub control_plane: BTreeMap<String, ErrorType>,
    /// Errors of the protocol itself (no operation bound), by type name.
    pub protocol: BTreeMap<String, ErrorType>,
    /// What a request whose SigV4 signature does not check is answered, by type name. Not an
    /// answer a scenario can expect of an operation, so not part of `any_plane`.
    pub authentication: BTreeMap<String, ErrorType>,
    /// Codes that exist only over MQTT, by code.
    pub mqtt_only: BTreeMap<String, MqttOnlyCode>,
}

impl ErrorTable {
    /// The data-plane row of the error type `name`.
    pub fn data_plane(&self, name: &str) -> Option<&ErrorType> {
        self.data_plane.get(name)
    }

    /// The row of an error type of any plane: data plane first, then control plane, then
    /// protocol.
    pub fn any_plane(&self, name: &str) -> Option<&ErrorType> {
        self.data_plane
            .get(name)
            .or_else(|| self.control_plane.get(name))
            .or_else(|| self.protocol.get(name))
    }

    /// Whether `name` is an error type of any section, or an MQTT-only code.
    pub fn is_known(&self, name: &str) -> bool {
        self.any_plane(name).is_some() || self.mqtt_only.contains_key(name)
    }

    /// The data-plane error type a MQTT rejected code stands for, where there is one.
    pub fn type_for_mqtt_code(&self, code: &str) -> Option<&str> {
        self.data_plane
            .iter()
            .find(|(_, row)| row.mqtt_code.as_deref() == Some(code))
            .map(|(name, _)| name.as_str())
    }

    /// The HTTP status a MQTT rejected code is filed under: its error type's status, or the
    /// `httpStatusEquivalent` of an MQTT-only code; `None` for a code the table does not know.
    pub fn status_class(&self, code: &str) -> Option<u16> {
        match self.type_for_mqtt_code(code) {
            Some(name) => self.data_plane.get(name).map(|row| row.http_status),
            None => self
                .mqtt_only
                .get(code)
                .map(|row| row.http_status_equivalent),
        }
    }
}

/// The process-wide error table.
///
/// # Panics
/// If the embedded `errors.json` does not read: a build defect, caught by the tests.
pub fn errors() -> &'static ErrorTable {
    static TABLE: OnceLock<ErrorTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let text = super::file("errors.json").expect("schemas/errors.json is embedded");
        serde_json::from_str(text).expect("schemas/errors.json is well-formed")
    })
}

/// The HTTP status for an error type: the data-plane row, else the control-plane, protocol or
/// authentication row.
pub fn error_status(kind: ErrorKind) -> u16 {
    let table = errors();
    table
        .any_plane(kind.type_name())
        .or_else(|| table.authentication.get(kind.type_name()))
        .map(|row| row.http_status)
        .unwrap_or_else(|| panic!("schemas/errors.json has no row for {}", kind.type_name()))
}

/// The MQTT rejected code of an error type, where the API has one.
pub fn mqtt_code(kind: ErrorKind) -> Option<&'static str> {
    errors()
        .data_plane(kind.type_name())
        .and_then(|row| row.mqtt_code.as_deref())
}

/// The HTTP error type a MQTT rejected code stands for, where there is one.
pub fn type_for_mqtt_code(code: &str) -> Option<&'static str> {
    errors().type_for_mqtt_code(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mqtt_only_codes_are_the_files() {
        let typed: Vec<&str> = MqttOnly::ALL.iter().map(|c| c.code()).collect();
        let file: Vec<&str> = errors().mqtt_only.keys().map(String::as_str).collect();
        let mut typed_sorted = typed.clone();
        typed_sorted.sort_unstable();
        assert_eq!(typed_sorted, file);
    }
    use serde_json::Value;

    const KINDS: [ErrorKind; 15] = [
        ErrorKind::InvalidRequest,
        ErrorKind::ResourceNotFound,
        ErrorKind::InvalidStateTransition,
        ErrorKind::TerminalState,
        ErrorKind::Throttling,
        ErrorKind::ServiceUnavailable,
        ErrorKind::CertificateValidation,
        ErrorKind::ResourceAlreadyExists,
        ErrorKind::VersionConflict,
        ErrorKind::LimitExceeded,
        ErrorKind::UnknownOperation,
        ErrorKind::MissingAuthenticationToken,
        ErrorKind::IncompleteSignature,
        ErrorKind::UnrecognizedClient,
        ErrorKind::InvalidSignature,
    ];

    fn raw() -> Value {
        serde_json::from_str(crate::file("errors.json").unwrap()).unwrap()
    }

    #[test]
    fn every_entry_of_the_file_is_in_the_table() {
        let raw = raw();
        let t = errors();
        for (section, typed) in [
            ("dataPlane", &t.data_plane),
            ("controlPlane", &t.control_plane),
            ("protocol", &t.protocol),
            ("authentication", &t.authentication),
        ] {
            let rows = raw[section].as_object().unwrap();
            assert_eq!(rows.len(), typed.len(), "{section}");
            for (name, row) in rows {
                let r = &typed[name];
                assert_eq!(Some(u64::from(r.http_status)), row["httpStatus"].as_u64());
                assert_eq!(r.mqtt_code.as_deref(), row["mqttCode"].as_str());
                let also: Vec<u64> = row["alsoSeenHttpStatus"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_u64).collect())
                    .unwrap_or_default();
                let typed_also: Vec<u64> =
                    r.also_seen_http_status.iter().map(|&s| s.into()).collect();
                assert_eq!(typed_also, also, "{section}.{name}");
            }
        }
        let mqtt = raw["mqttOnly"].as_object().unwrap();
        assert_eq!(mqtt.len(), t.mqtt_only.len());
        for (code, row) in mqtt {
            assert_eq!(
                Some(u64::from(t.mqtt_only[code].http_status_equivalent)),
                row["httpStatusEquivalent"].as_u64()
            );
        }
    }

    #[test]
    fn every_kind_has_a_status() {
        for kind in KINDS {
            assert!((400..600).contains(&error_status(kind)), "{kind:?}");
        }
        assert_eq!(error_status(ErrorKind::ResourceAlreadyExists), 409);
        assert_eq!(error_status(ErrorKind::UnknownOperation), 404);
    }

    #[test]
    fn mqtt_codes_go_both_ways() {
        assert_eq!(
            mqtt_code(ErrorKind::TerminalState),
            Some("TerminalStateReached")
        );
        assert_eq!(mqtt_code(ErrorKind::ResourceAlreadyExists), None);
        assert_eq!(
            type_for_mqtt_code("RequestThrottled"),
            Some("ThrottlingException")
        );
        assert_eq!(type_for_mqtt_code("VersionMismatch"), None);
    }

    #[test]
    fn status_classes_of_rejected_codes() {
        let t = errors();
        assert_eq!(t.status_class("TerminalStateReached"), Some(410));
        assert_eq!(t.status_class("VersionMismatch"), Some(409));
        assert_eq!(t.status_class("InvalidJson"), Some(400));
        assert_eq!(t.status_class("NoSuchCode"), None);
    }

    #[test]
    fn known_names_span_every_section() {
        let t = errors();
        for name in [
            "ThrottlingException",
            "ResourceAlreadyExistsException",
            "UnknownOperationException",
            "InvalidTopic",
        ] {
            assert!(t.is_known(name), "{name}");
        }
        assert!(!t.is_known("Throttling"));
        assert_eq!(
            t.data_plane("ThrottlingException")
                .unwrap()
                .also_seen_http_status,
            [400]
        );
    }
}
