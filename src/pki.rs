//! A test PKI in a folder (`jobcert pki`): a CA, a server certificate for the loopback names,
//! and per-device client certificates, some deliberately unusable (expired, from another CA,
//! revoked) so that an mTLS endpoint's refusals can be exercised.
//!
//! Files: `ca.pem`/`ca.key`, `server.pem`/`server.key`, `{thing}.pem`/`{thing}.key`, and
//! `revoked.txt` (one serial a line, in the reference's own form, the list `jobcert serve
//! --revoked` reads).
//! Private keys are written with mode 0600.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use jobcert_reference::tls::serial_hex;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SerialNumber,
};

/// The names the server certificate is valid for: the reference listens on loopback.
const SERVER_NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

/// How long issued certificates are valid (from one day before issue, against clock skew).
const VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

/// The name of the revocation list in a PKI folder.
pub const REVOKED_FILE: &str = "revoked.txt";

/// What is wrong with a device certificate, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flaw {
    /// A usable certificate.
    None,
    /// Its validity ended yesterday.
    Expired,
    /// Signed by a CA made for it and thrown away.
    UnknownCa,
    /// Signed by the CA, its serial listed in `revoked.txt`.
    Revoked,
}

/// Creates `dir` (if needed) with a new CA and a server certificate; refuses a folder that
/// already holds a CA, whose certificates would stop verifying.
pub fn init(dir: &Path) -> anyhow::Result<()> {
    if dir.join("ca.pem").exists() {
        bail!("{} already holds a CA (ca.pem)", dir.display());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let ca_key = KeyPair::generate()?;
    let ca = ca_params(&ca_name(&ca_key))?.self_signed(&ca_key)?;
    write_pair(dir, "ca", &ca.pem(), &ca_key)?;
    let issuer = Issuer::new(ca_params(&ca_name(&ca_key))?, ca_key);
    let key = KeyPair::generate()?;
    let mut params = leaf_params("localhost", Flaw::None)?;
    params.subject_alt_names =
        CertificateParams::new(SERVER_NAMES.map(String::from).to_vec())?.subject_alt_names;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    write_pair(dir, "server", &params.signed_by(&key, &issuer)?.pem(), &key)?;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(REVOKED_FILE))
        .context("creating the revocation list")?;
    Ok(())
}

/// Issues `{thing}.pem`/`{thing}.key` in `dir` (CN = `thing`) with `flaw`; returns the
/// certificate's path.
pub fn issue(dir: &Path, thing: &str, flaw: Flaw) -> anyhow::Result<PathBuf> {
    check_file_name(thing)?;
    let key = KeyPair::generate()?;
    let params = leaf_params(thing, flaw)?;
    let cert = match flaw {
        Flaw::UnknownCa => {
            let stranger = ca_params("jobcert unknown CA")?;
            params.signed_by(&key, &Issuer::new(stranger, KeyPair::generate()?))?
        }
        Flaw::None | Flaw::Expired | Flaw::Revoked => params.signed_by(&key, &load_ca(dir)?)?,
    };
    if flaw == Flaw::Revoked {
        let serial = params
            .serial_number
            .as_ref()
            .map(|s| serial_hex(s.as_ref()))
            .context("an issued certificate has a serial")?;
        let mut list = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(REVOKED_FILE))
            .context("opening the revocation list")?;
        writeln!(list, "{serial}").context("writing the revocation list")?;
    }
    write_pair(dir, thing, &cert.pem(), &key)?;
    Ok(dir.join(format!("{thing}.pem")))
}

/// Issues a usable certificate for each of `things` in `dir` that has none yet, signing with
/// the CA loaded once; returns how many were issued.
pub fn issue_missing<'a>(
    dir: &Path,
    things: impl IntoIterator<Item = &'a str>,
) -> anyhow::Result<usize> {
    let issuer = load_ca(dir)?;
    let mut issued = 0;
    for thing in things {
        check_file_name(thing)?;
        if dir.join(format!("{thing}.pem")).exists() {
            continue;
        }
        let key = KeyPair::generate()?;
        let cert = leaf_params(thing, Flaw::None)?.signed_by(&key, &issuer)?;
        write_pair(dir, thing, &cert.pem(), &key)?;
        issued += 1;
    }
    Ok(issued)
}

/// Refuses a thing name that would not name a file inside the PKI folder.
fn check_file_name(thing: &str) -> anyhow::Result<()> {
    if thing.is_empty() || thing.contains(['/', '\0']) || thing.starts_with('.') {
        bail!("{thing:?} cannot name a file in the PKI folder");
    }
    Ok(())
}

/// A PKI in a fresh folder under the system's temporary directory, removed with its keys when
/// dropped: for a run that needs certificates only while it runs.
#[derive(Debug)]
pub struct TempPki {
    dir: PathBuf,
}

impl TempPki {
    /// Creates the folder with a CA and a server certificate.
    pub fn new() -> anyhow::Result<Self> {
        let dir =
            std::env::temp_dir().join(format!("jobcert-pki-{}", uuid::Uuid::new_v4().simple()));
        let pki = Self { dir };
        init(&pki.dir)?;
        Ok(pki)
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for TempPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The CA's parameters; the same every time for one `name`, so that `ca.key` alone makes an
/// issuer again.
fn ca_params(name: &str) -> anyhow::Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::new())?;
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = SystemTime::now();
    params.not_before = (now - DAY).into();
    params.not_after = (now + VALIDITY * 10).into();
    Ok(params)
}

/// A client certificate's parameters: CN = `name`, a fresh random serial, valid from yesterday
/// for a year, or ended yesterday when `flaw` is [`Flaw::Expired`].
fn leaf_params(name: &str, flaw: Flaw) -> anyhow::Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::new())?;
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let mut serial = *uuid::Uuid::new_v4().as_bytes();
    serial[0] &= 0x7f; // a positive INTEGER
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    let now = SystemTime::now();
    (params.not_before, params.not_after) = match flaw {
        Flaw::Expired => ((now - VALIDITY).into(), (now - DAY).into()),
        _ => ((now - DAY).into(), (now + VALIDITY).into()),
    };
    Ok(params)
}

/// The issuer kept in `dir` (`ca.key`, with the fixed CA parameters).
fn load_ca(dir: &Path) -> anyhow::Result<Issuer<'static, KeyPair>> {
    let path = dir.join("ca.key");
    let pem = std::fs::read_to_string(&path)
        .with_context(|| format!("reading {} (run `jobcert pki init` first)", path.display()))?;
    let key = KeyPair::from_pem(&pem).with_context(|| format!("reading {}", path.display()))?;
    Ok(Issuer::new(ca_params(&ca_name(&key))?, key))
}

/// The CA's name, told apart from every other test CA's by its key, so that a certificate
/// from another PKI is refused as from an unknown issuer rather than as a bad signature.
fn ca_name(key: &KeyPair) -> String {
    let id: String = key
        .public_key_raw()
        .iter()
        .skip(1)
        .take(4)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("jobcert test CA {id}")
}

/// Writes `{name}.pem` and `{name}.key` (the key with mode 0600, created so from the start).
fn write_pair(dir: &Path, name: &str, cert_pem: &str, key: &KeyPair) -> anyhow::Result<()> {
    let cert_path = dir.join(format!("{name}.pem"));
    std::fs::write(&cert_path, cert_pem)
        .with_context(|| format!("writing {}", cert_path.display()))?;
    let key_path = dir.join(format!("{name}.key"));
    let _ = std::fs::remove_file(&key_path);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&key_path)
        .and_then(|mut f| f.write_all(key.serialize_pem().as_bytes()))
        .with_context(|| format!("writing {}", key_path.display()))
}
