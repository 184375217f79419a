//! What both reports say about the target, as label and value rows.

use crate::record::TargetInfo;

/// The target's rows, in the order both reports show them.
pub(crate) fn target_rows(target: &TargetInfo) -> [(&'static str, String); 6] {
    [
        ("Data plane", target.data_plane.clone()),
        ("Control plane", target.control_plane.clone()),
        ("Transport", target.transport.clone()),
        ("Time scale", target.time_scale.to_string()),
        ("Embedded reference", target.embedded.to_string()),
        ("Signed", target.signed.to_string()),
    ]
}

/// The target the report fixtures describe.
#[cfg(test)]
pub(crate) fn sample_target() -> TargetInfo {
    TargetInfo {
        data_plane: "http://127.0.0.1:9080".into(),
        control_plane: "http://127.0.0.1:9081".into(),
        transport: "http".into(),
        time_scale: 1.0,
        embedded: true,
        signed: false,
    }
}
