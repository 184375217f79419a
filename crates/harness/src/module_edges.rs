//! Keeps the harness's data flow one way. Every path from one top-level module into another
//! (`crate::check::…`, or `super::…` climbing out of a module) is an edge; an edge that is not
//! listed in [`ALLOWED`] fails the test, and so does a listed edge that no longer exists (so the
//! list stays the truth). The same test keeps the crate rule: the harness and the reference
//! depend on the contract (and the listener guard, which knows nothing of ours) and never on
//! each other.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Stage → the stages it may use. The flow is scenario → plan → drive → transport → check →
/// record → verdict → report; a stage may read the types of the stages before it, and the
/// driver hands answers onwards (drive → transport, check, record). `finding` is the leaf
/// that checks, records, verdicts and reports share.
const ALLOWED: &[(&str, &[&str])] = &[
    ("finding", &[]),
    ("scenario", &["plan"]),
    ("plan", &[]),
    (
        "drive",
        &[
            "scenario",
            "plan",
            "transport",
            "check",
            "record",
            "finding",
        ],
    ),
    ("transport", &[]),
    ("check", &["plan", "transport", "finding"]),
    ("record", &["scenario", "transport", "finding"]),
    ("verdict", &["scenario", "record", "finding"]),
    (
        "report",
        &["scenario", "transport", "record", "verdict", "finding"],
    ),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("readable source folder") {
        let path = entry.expect("folder entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file: `check/oracle/mod.rs` → `[check, oracle]`.
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The top-level modules that `text` (a file at module path `at`) refers into.
fn references(text: &str, at: &[String], top: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let word = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for (i, _) in text.match_indices("crate::") {
        let before = text[..i].chars().last();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue; // `jobcert_crate::`-like names, not this crate
        }
        let rest = &text[i + "crate::".len()..];
        for name in leading_names(rest).into_iter().map(word) {
            if top.contains(&name) {
                out.insert(name);
            }
        }
    }
    for (i, _) in text.match_indices("super::") {
        if text[..i].ends_with("super::") {
            continue; // counted from the first `super::` of the chain
        }
        let mut rest = &text[i..];
        let mut climbs = 0;
        while let Some(r) = rest.strip_prefix("super::") {
            climbs += 1;
            rest = r;
        }
        if climbs >= at.len() {
            let name = word(rest);
            if top.contains(&name) {
                out.insert(name);
            }
        }
    }
    out
}

/// The first segments a path continues with: `record::X` → `[record::X]`,
/// `{plan::Step, finding::{A, B}}` → `[plan::Step, finding::{A, B}]`.
fn leading_names(rest: &str) -> Vec<&str> {
    let Some(group) = rest.strip_prefix('{') else {
        return vec![rest];
    };
    let mut out = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(group[start..i].trim_start());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(group[start..].trim_start());
    out
}

/// Every edge between the harness's top-level modules, with a file that makes it.
fn edges() -> BTreeMap<(String, String), PathBuf> {
    let root = src();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let modules: Vec<(Vec<String>, PathBuf)> = files
        .into_iter()
        .map(|f| (module_path(f.strip_prefix(&root).expect("under src")), f))
        .filter(|(m, _)| !m.is_empty() && m[0] != "lib" && m[0] != "module_edges")
        .collect();
    let top: BTreeSet<String> = modules.iter().map(|(m, _)| m[0].clone()).collect();
    let mut out = BTreeMap::new();
    for (module, file) in &modules {
        let text = fs::read_to_string(file).expect("readable source file");
        for to in references(&text, module, &top) {
            if to != module[0] {
                out.entry((module[0].clone(), to)).or_insert(file.clone());
            }
        }
    }
    out
}

#[test]
fn every_edge_between_harness_modules_is_allowed_and_every_allowed_edge_exists() {
    let allowed: BTreeSet<(String, String)> = ALLOWED
        .iter()
        .flat_map(|(from, tos)| tos.iter().map(|to| (from.to_string(), to.to_string())))
        .collect();
    let found = edges();
    let unlisted: Vec<String> = found
        .iter()
        .filter(|(edge, _)| !allowed.contains(*edge))
        .map(|((from, to), file)| format!("{from} → {to} (in {})", file.display()))
        .collect();
    assert!(
        unlisted.is_empty(),
        "edges against the data flow:\n{}",
        unlisted.join("\n")
    );
    let stale: Vec<String> = allowed
        .iter()
        .filter(|e| !found.contains_key(*e))
        .map(|(from, to)| format!("{from} → {to}"))
        .collect();
    assert!(
        stale.is_empty(),
        "listed edges no module uses (drop them from ALLOWED): {}",
        stale.join(", ")
    );
}

#[test]
fn every_top_level_module_has_a_row() {
    let listed: BTreeSet<&str> = ALLOWED.iter().map(|(m, _)| *m).collect();
    let found: BTreeSet<String> = edges().keys().map(|(from, _)| from.clone()).collect();
    for module in &found {
        assert!(
            listed.contains(module.as_str()),
            "{module} has no row in ALLOWED"
        );
    }
}

#[rstest::rstest]
#[case::crate_path(&["check", "answer"], "use crate::record::Tally;", &["record"])]
#[case::grouped(&["check"], "use crate::{plan::Step, finding::Finding};", &["finding", "plan"])]
#[case::climbing_out(&["report", "html"], "use super::super::verdict::Verdict;", &["verdict"])]
#[case::staying_inside(&["report", "fleet", "html"], "use super::super::kit;", &[])]
#[case::other_crate(&["check"], "use jobcert_crate::record;", &[])]
fn references_are_read_from_paths(#[case] at: &[&str], #[case] text: &str, #[case] want: &[&str]) {
    let top: BTreeSet<String> = ["check", "finding", "plan", "record", "report", "verdict"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let at: Vec<String> = at.iter().map(|s| s.to_string()).collect();
    let got = references(text, &at, &top);
    let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
    assert_eq!(got, want);
}

/// The names of the workspace crates a manifest's `[dependencies]` lists.
fn workspace_dependencies(manifest: &Path) -> BTreeSet<String> {
    let text = fs::read_to_string(manifest).expect("readable Cargo.toml");
    let mut in_deps = false;
    let mut out = BTreeSet::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
        } else if in_deps && line.starts_with("jobcert-") {
            out.insert(word_before(line, |c| c == '.' || c == ' ' || c == '='));
        }
    }
    out
}

fn word_before(line: &str, end: impl Fn(char) -> bool) -> String {
    line.chars().take_while(|c| !end(*c)).collect()
}

/// The harness and the reference share the contract and the listener guard, and nothing of
/// each other; the guard, which both serve HTTP through, knows none of the three, so no rule
/// of the Jobs API can reach both sides through it.
#[test]
fn the_harness_and_the_reference_share_only_the_contract() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let deps = |name: &str| workspace_dependencies(&crates.join(name).join("Cargo.toml"));
    let shared: BTreeSet<String> =
        ["jobcert-contract".to_string(), "jobcert-guard".to_string()].into();
    assert_eq!(deps("harness"), shared);
    assert_eq!(deps("reference"), shared);
    assert!(deps("contract").is_empty());
    assert!(deps("guard").is_empty());
}
