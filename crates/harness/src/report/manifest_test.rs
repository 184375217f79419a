use rstest::rstest;

use super::super::fixture;
use super::*;

/// A fresh scratch folder, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("jobcert-manifest-{}", uuid::Uuid::new_v4()));
        fs::create_dir_all(dir.join("charts")).unwrap();
        fs::write(dir.join("summary.json"), "{}").unwrap();
        fs::write(dir.join("junit.xml"), "<testsuites/>").unwrap();
        fs::write(dir.join("charts/a.svg"), "<svg/>").unwrap();
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn facts<'a>(command: &'a [String], inputs: Vec<(InputRole, PathBuf)>) -> RunFacts<'a> {
    RunFacts {
        jobcert_version: "0.1.0",
        kind: RunKind::Conformance,
        run_id: "abcd1234",
        command,
        profile: Profile::Aws,
        started_at_ms: 1,
        targets: vec![],
        inputs,
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(ToString::to_string).collect()
}

#[rstest]
#[case::plain(&["jobcert", "run", "--only", "SN-EMPTY"], &["jobcert", "run", "--only", "SN-EMPTY"])]
#[case::secret_option(&["run", "--api-key", "k1", "--only", "x"], &["run", "--api-key", "<redacted>", "--only", "x"])]
#[case::secret_option_with_equals(&["run", "--auth-token=t1"], &["run", "--auth-token=<redacted>"])]
#[case::secret_assignment(&["AWS_SECRET_ACCESS_KEY=s1"], &["AWS_SECRET_ACCESS_KEY=<redacted>"])]
#[case::url_password(&["--target", "http://me:pw@127.0.0.1:9/"], &["--target", "http://me:<redacted>@127.0.0.1:9/"])]
#[case::url_password_after_equals(&["--target=http://me:pw@127.0.0.1:9"], &["--target=http://me:<redacted>@127.0.0.1:9"])]
#[case::url_without_password(&["--target", "http://me@127.0.0.1:9"], &["--target", "http://me@127.0.0.1:9"])]
#[case::account_id_is_no_secret(&["--account-id", "123456789012"], &["--account-id", "123456789012"])]
fn redact_command_hides_secrets_only(#[case] given: &[&str], #[case] expected: &[&str]) {
    assert_eq!(redact_command(&strings(given)), strings(expected));
}

#[test]
fn a_written_manifest_matches_its_schema_and_its_folder() {
    let scratch = Scratch::new();
    let scenario = scratch.0.join("charts/a.svg");
    let command = strings(&["jobcert", "run", "--api-key", "k1"]);
    write_manifest(
        &scratch.0,
        &facts(&command, vec![(InputRole::Scenario, scenario)]),
    )
    .unwrap();
    let manifest = read_manifest(&scratch.0).unwrap();
    let paths: Vec<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["charts/a.svg", "junit.xml", "summary.json"]);
    assert_eq!(manifest.command[3], REDACTED);
    assert_eq!(manifest.inputs[0].sha256, manifest.files[0].sha256);
    assert!(
        manifest
            .schemas
            .iter()
            .any(|s| s.path == "report/manifest.schema.json")
    );
    assert_eq!(verify(&scratch.0).unwrap(), []);
}

#[rstest]
#[case::changed_byte(|d: &Path| fs::write(d.join("junit.xml"), "<testsuiteS/>").unwrap(), Mismatch::Changed("junit.xml".into()))]
#[case::missing(|d: &Path| fs::remove_file(d.join("charts/a.svg")).unwrap(), Mismatch::Missing("charts/a.svg".into()))]
#[case::extra(|d: &Path| fs::write(d.join("notes.txt"), "x").unwrap(), Mismatch::Extra("notes.txt".into()))]
fn verify_names_each_file_that_differs(#[case] edit: fn(&Path), #[case] expected: Mismatch) {
    let scratch = Scratch::new();
    write_manifest(&scratch.0, &facts(&[], vec![])).unwrap();
    edit(&scratch.0);
    assert_eq!(verify(&scratch.0).unwrap(), [expected]);
}

#[test]
fn a_manifest_that_breaks_its_schema_is_refused() {
    let scratch = Scratch::new();
    write_manifest(&scratch.0, &facts(&[], vec![])).unwrap();
    let path = scratch.0.join(MANIFEST);
    let text = fs::read_to_string(&path).unwrap();
    fs::write(
        &path,
        text.replace("\"manifest_version\": 1", "\"manifest_version\": 2"),
    )
    .unwrap();
    assert!(matches!(
        verify(&scratch.0),
        Err(ManifestError::Format { .. })
    ));
}

#[test]
fn a_target_is_described_by_its_own_server_header() {
    let (mut run, _) = fixture::sample();
    let exchange = run.cases[0].exchanges.first_mut().unwrap();
    if let Outcome::Answered(answer) = &mut exchange.outcome {
        answer
            .headers
            .push(("Server".into(), "acme-jobs/2.1".into()));
    }
    let mut target = run.target.clone();
    target.data_plane = format!("{}/", exchange.request.endpoint);
    assert_eq!(
        TargetSelf::of(&target, &run).server.as_deref(),
        Some("acme-jobs/2.1")
    );
    target.data_plane = "http://127.0.0.1:1".into();
    assert_eq!(TargetSelf::of(&target, &run).server, None);
}
