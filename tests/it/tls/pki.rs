//! `jobcert pki init/issue`: the files, their modes, and the refusals.

use std::os::unix::fs::PermissionsExt;

use crate::common::pki::Pki;
use crate::common::process::{args, jobcert};

#[test]
fn keys_are_private_and_a_second_ca_is_refused() {
    let pki = Pki::init();
    pki.issue("dev-1", None);
    pki.issue("gone", Some("--revoked"));
    for key in ["ca.key", "server.key", "dev-1.key", "gone.key"] {
        let mode = std::fs::metadata(pki.file(key))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{key}");
    }
    for cert in ["ca.pem", "server.pem", "dev-1.pem"] {
        let text = std::fs::read_to_string(pki.file(cert)).unwrap();
        assert!(text.starts_with("-----BEGIN CERTIFICATE-----"), "{cert}");
    }
    let revoked = std::fs::read_to_string(pki.file("revoked.txt")).unwrap();
    assert_eq!(
        revoked.lines().count(),
        1,
        "one revoked serial: {revoked:?}"
    );

    let again = jobcert(
        &args(["pki", "init", "."]),
        pki.dir(),
        std::time::Duration::from_secs(30),
    );
    assert_eq!(again.code, Some(2), "{again}");
    assert!(again.stderr.contains("already holds a CA"), "{again}");
}
