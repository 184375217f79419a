//! The requirement catalogue of `schemas/requirements.json`, and its IDs as a closed type.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

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

/// The ID of a requirement of the catalogue. Only the constants of [`req`] and
/// [`RequirementId::parse`] make one, so holding one means the catalogue lists it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequirementId(u16);

include!(concat!(env!("OUT_DIR"), "/requirement_ids.rs"));

/// A text that names no requirement of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown requirement ID {0:?}")]
pub struct UnknownRequirement(pub String);

impl RequirementId {
    /// The ID as the catalogue spells it (`SN-NEXT-ORDER`).
    pub fn as_str(self) -> &'static str {
        TABLE[usize::from(self.0)].0
    }

    /// How binding the requirement is.
    pub fn level(self) -> Level {
        TABLE[usize::from(self.0)].1
    }

    /// The requirement the catalogue lists under `text`.
    pub fn parse(text: &str) -> Result<Self, UnknownRequirement> {
        Self::ALL
            .iter()
            .copied()
            .find(|id| id.as_str() == text)
            .ok_or_else(|| UnknownRequirement(text.to_string()))
    }
}

impl FromStr for RequirementId {
    type Err = UnknownRequirement;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for RequirementId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for RequirementId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for RequirementId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for RequirementId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
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
    /// The requirement named by a text from outside (a scenario file, a deviation list);
    /// `None` when the catalogue has no such ID. Code that knows its ID uses
    /// [`Catalogue::requirement`], which cannot miss.
    pub fn get(&self, id: &str) -> Option<&Requirement> {
        RequirementId::parse(id).ok().map(|id| self.requirement(id))
    }

    /// The requirement `id`.
    pub fn requirement(&self, id: RequirementId) -> &Requirement {
        // The generated IDs index the same file in the same order.
        &self.requirements[usize::from(id.0)]
    }

    /// How binding requirement `id` is.
    pub fn level_of(&self, id: RequirementId) -> Level {
        self.requirement(id).level
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_parses_back_to_itself() {
        assert_eq!(RequirementId::ALL.len(), catalogue().requirements.len());
        for &id in RequirementId::ALL {
            assert_eq!(RequirementId::parse(id.as_str()), Ok(id));
            assert_eq!(id.to_string().parse::<RequirementId>(), Ok(id));
        }
    }

    #[test]
    fn the_ids_are_the_catalogue_in_order() {
        let listed: Vec<&str> = catalogue()
            .requirements
            .iter()
            .map(|r| r.id.as_str())
            .collect();
        let typed: Vec<&str> = RequirementId::ALL.iter().map(|id| id.as_str()).collect();
        assert_eq!(typed, listed);
    }

    #[test]
    fn levels_match_the_catalogue() {
        for &id in RequirementId::ALL {
            let row = catalogue().get(id.as_str()).expect("listed");
            assert_eq!(id.level(), row.level, "{id}");
            assert_eq!(catalogue().level_of(id), row.level, "{id}");
            assert_eq!(catalogue().requirement(id).id, id.as_str());
        }
    }

    #[test]
    fn constants_name_their_ids() {
        assert_eq!(req::SN_NEXT_ORDER.as_str(), "SN-NEXT-ORDER");
        assert_eq!(req::WI_ANSWER.as_str(), "WI-ANSWER");
        assert_eq!(req::SN_NEXT_ORDER.level(), Level::Must);
        assert_eq!(req::SN_UNKNOWN_THING.level(), Level::Ambiguous);
    }

    #[test]
    fn unknown_ids_are_refused() {
        for text in ["", "SN-NOPE", "sn-next-order", "SN_NEXT_ORDER", " SN-ROUTE"] {
            assert_eq!(
                RequirementId::parse(text),
                Err(UnknownRequirement(text.to_string()))
            );
            assert!(catalogue().get(text).is_none(), "{text:?}");
        }
    }

    #[test]
    fn serde_carries_the_id_as_its_text() {
        let json = serde_json::to_string(&req::MQ_NOTIFY_NEXT).unwrap();
        assert_eq!(json, r#""MQ-NOTIFY-NEXT""#);
        let back: RequirementId = serde_json::from_str(&json).unwrap();
        assert_eq!(back, req::MQ_NOTIFY_NEXT);
        let err = serde_json::from_str::<RequirementId>(r#""MQ-NOPE""#).unwrap_err();
        assert!(err.to_string().contains("unknown requirement ID"), "{err}");
        assert!(serde_json::from_str::<RequirementId>("3").is_err());
    }
}
