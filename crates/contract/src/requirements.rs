//! The requirement catalogue of `schemas/requirements.json`.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// How binding a requirement is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// The contract clearly requires it: a violation fails the run.
    Must,
    /// The contract leaves room: a violation warns, and fails only under the strict profile.
    Ambiguous,
    /// Recommended: a violation warns.
    Should,
}

/// One requirement.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Requirement {
    /// Stable identifier (`SN-NEXT-ORDER`).
    pub id: String,
    /// The operation it belongs to, or `*` for all.
    pub operation: String,
    /// Section of the API reading it comes from.
    pub section: String,
    /// How binding it is.
    pub level: Level,
    /// One line in our own words.
    pub summary: String,
    /// Why the suite cannot trigger it on demand, if it cannot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub untestable: Option<String>,
}

/// Every requirement the suite knows.
#[derive(Debug, Deserialize)]
pub struct Catalogue {
    /// In catalogue order.
    pub requirements: Vec<Requirement>,
}

impl Catalogue {
    /// The requirement with `id`.
    pub fn get(&self, id: &str) -> Option<&Requirement> {
        self.requirements.iter().find(|r| r.id == id)
    }
}

/// The process-wide catalogue.
pub fn catalogue() -> &'static Catalogue {
    static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
    CATALOGUE.get_or_init(|| {
        let text = super::file("requirements.json").expect("schemas/requirements.json is embedded");
        serde_json::from_str(text).expect("schemas/requirements.json is well-formed")
    })
}
