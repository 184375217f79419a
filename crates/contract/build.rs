//! Embeds every file under `schemas/` in the binary, so the contract travels with it, and
//! generates one typed constant per requirement of `schemas/requirements.json`, so a
//! requirement ID in code is checked by the compiler rather than matched as text at run time.

use std::{env, fs, path::Path};

use serde_json::Value;

fn collect(dir: &Path, root: &Path, out: &mut Vec<String>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .expect("schemas/ is readable")
        .map(|e| e.expect("schemas/ entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            let rel = path.strip_prefix(root).expect("under schemas/");
            out.push(format!(
                "({:?}, include_str!({:?})),",
                rel.to_string_lossy(),
                path.canonicalize().expect("schema path")
            ));
        }
    }
}

/// `SN-NEXT-ORDER` becomes `SN_NEXT_ORDER`; anything that would not make an identifier stops
/// the build.
fn constant_name(id: &str) -> String {
    assert!(
        !id.is_empty()
            && id.starts_with(|c: char| c.is_ascii_uppercase())
            && id
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-'),
        "requirement ID {id:?} is not of the form LETTERS-AND-DIGITS"
    );
    id.replace('-', "_")
}

fn level_variant(level: &str) -> &'static str {
    match level {
        "must" => "Must",
        "ambiguous" => "Ambiguous",
        "should" => "Should",
        other => panic!("requirements.json: unknown level {other:?}"),
    }
}

/// The `req` module, the ID table and `RequirementId::ALL`, from the catalogue's text.
fn requirement_ids(text: &str) -> String {
    let catalogue: Value = serde_json::from_str(text).expect("requirements.json is JSON");
    let rows = catalogue["requirements"]
        .as_array()
        .expect("requirements.json has a requirements array");
    let mut constants = String::new();
    let mut table = String::new();
    let mut all = String::new();
    let mut seen = std::collections::BTreeSet::new();
    for (index, row) in rows.iter().enumerate() {
        let id = row["id"].as_str().expect("requirement id");
        assert!(seen.insert(id), "requirements.json lists {id} twice");
        let name = constant_name(id);
        let level = level_variant(row["level"].as_str().expect("requirement level"));
        let summary = row["summary"].as_str().unwrap_or_default();
        constants.push_str(&format!(
            "    #[doc = {:?}]\n    pub const {name}: RequirementId = RequirementId({index});\n",
            format!("`{id}`: {summary}")
        ));
        table.push_str(&format!("    ({id:?}, Level::{level}),\n"));
        all.push_str(&format!("        req::{name},\n"));
    }
    format!(
        "/// One constant per requirement of `schemas/requirements.json`, in catalogue order.\n\
         pub mod req {{\n    use super::RequirementId;\n\n{constants}}}\n\n\
         /// ID text and level of each requirement, indexed by `RequirementId`.\n\
         static TABLE: [(&str, Level); {count}] = [\n{table}];\n\n\
         impl RequirementId {{\n    /// Every requirement, in catalogue order.\n    \
         pub const ALL: &'static [RequirementId] = &[\n{all}    ];\n}}\n",
        count = rows.len()
    )
}

/// Stops the build when `outcomes.json` names a requirement the catalogue does not list.
fn check_outcomes(catalogue: &str, outcomes: &str) {
    let catalogue: Value = serde_json::from_str(catalogue).expect("requirements.json is JSON");
    let known: std::collections::BTreeSet<&str> = catalogue["requirements"]
        .as_array()
        .expect("requirements.json has a requirements array")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    let outcomes: Value = serde_json::from_str(outcomes).expect("outcomes.json is JSON");
    let table = outcomes["outcomes"]
        .as_object()
        .expect("outcomes.json has an outcomes object");
    for (id, row) in table {
        for named in std::iter::once(id.as_str()).chain(row["partner"].as_str()) {
            assert!(
                known.contains(named),
                "outcomes.json names {named}, which requirements.json does not list"
            );
        }
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../schemas")
        .canonicalize()
        .expect("schemas/ sits at the workspace root");
    println!("cargo:rerun-if-changed=../../schemas");
    let mut files = Vec::new();
    collect(&root, &root, &mut files);
    let code = format!(
        "/// Every file under `schemas/`, by path relative to that folder.\npub static FILES: &[(&str, &str)] = &[\n{}\n];\n",
        files.join("\n")
    );
    let out = Path::new(&env::var("OUT_DIR").expect("OUT_DIR")).to_path_buf();
    fs::write(out.join("schema_files.rs"), code).expect("write schema_files.rs");
    let requirements =
        fs::read_to_string(root.join("requirements.json")).expect("schemas/requirements.json");
    let outcomes = fs::read_to_string(root.join("outcomes.json")).expect("schemas/outcomes.json");
    check_outcomes(&requirements, &outcomes);
    fs::write(
        out.join("requirement_ids.rs"),
        requirement_ids(&requirements),
    )
    .expect("write requirement_ids.rs");
}
