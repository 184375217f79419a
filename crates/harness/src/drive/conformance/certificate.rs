//! SN-CERTIFICATE's step: StartNext on the target's mTLS endpoint, first with the run's own
//! client certificate (the premise: the endpoint serves a certificate it accepts), then with
//! certificates made here that no target can accept: one from a CA made for the purpose, and
//! one that expired yesterday (from such a CA as well, since the run holds no CA key of the
//! target's).

use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use serde_json::{Map, Value};

use super::case::CaseRun;
use crate::check::{answer, certificate};
use crate::transport::http::{Endpoint, HttpTransport};
use crate::transport::target::DATA_SERVICE;
use crate::transport::tls::Identity;
use crate::transport::{DataClient, Exchange, Label, Raw, Request};
use jobcert_contract::{Binding, Operation};

const DAY: Duration = Duration::from_secs(24 * 3600);

impl CaseRun<'_> {
    /// Plays the step against `endpoint` for logical thing `thing`; `Err` says why the
    /// certificates could not be judged (the premise did not hold).
    pub(super) async fn unusable_certificates(
        &mut self,
        thing: &str,
        endpoint: &str,
    ) -> Result<(), String> {
        let name = self
            .things
            .get(thing)
            .cloned()
            .unwrap_or_else(|| thing.to_string());
        let own = self
            .target
            .tls
            .shared_identity()
            .map_err(|e| e.to_string())?
            .ok_or("SN-CERTIFICATE needs a client certificate the target accepts (--cert/--key)")?;
        let served = self.start_next_presenting(&own, &name, endpoint).await?;
        let (read, _) = answer::read(
            &served,
            Operation::StartNextPendingJobExecution,
            Binding::Http,
            self.settings.profile,
        );
        if read.success().is_none() {
            return Err(format!(
                "the mTLS endpoint {endpoint} answered the run's own certificate {}; \
                 SN-CERTIFICATE needs a certificate it accepts for thing {name}",
                read.describe()
            ));
        }
        for (presented, expired) in [
            ("a certificate from an unknown CA", false),
            ("an expired certificate (from an unknown CA)", true),
        ] {
            let identity = stranger(&name, expired)?;
            let exchange = self
                .start_next_presenting(&identity, &name, endpoint)
                .await?;
            self.findings
                .push(certificate::unusable(&exchange, presented));
        }
        Ok(())
    }

    /// StartNext for `thing` on `endpoint`, presenting `identity`; the exchange is kept.
    async fn start_next_presenting(
        &mut self,
        identity: &Identity,
        thing: &str,
        endpoint: &str,
    ) -> Result<Exchange, String> {
        let http = HttpTransport::presenting(
            self.settings.origin,
            self.target.signer.clone(),
            &self.target.tls,
            identity,
        )
        .map_err(|e| e.to_string())?;
        let endpoint = Endpoint {
            base: endpoint.to_string(),
            service: DATA_SERVICE,
        };
        let mut client = DataClient::pooled(http, endpoint, None);
        let operation = Operation::StartNextPendingJobExecution;
        let mut input = Map::new();
        input.insert("thingName".into(), Value::String(thing.to_string()));
        let request = Request {
            operation,
            input: &input,
            raw: Raw::default(),
        };
        let label = Label {
            seq: self.next_seq(),
            context: &self.case.id,
            operation: operation.name(),
        };
        let exchange = client
            .send(&request, self.settings.deadline, label)
            .await
            .map_err(|e| e.to_string())?;
        self.exchanges.push(exchange.clone());
        Ok(exchange)
    }
}

/// A client certificate for `thing` signed by a CA made for it and thrown away; with
/// `expired`, one whose validity ended yesterday.
fn stranger(thing: &str, expired: bool) -> Result<Identity, String> {
    let fail = |e: rcgen::Error| format!("making a test certificate: {e}");
    let mut ca = CertificateParams::new(Vec::new()).map_err(fail)?;
    ca.distinguished_name
        .push(DnType::CommonName, "jobcert throwaway CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let issuer = Issuer::new(ca, KeyPair::generate().map_err(fail)?);
    let mut leaf = CertificateParams::new(Vec::new()).map_err(fail)?;
    leaf.distinguished_name.push(DnType::CommonName, thing);
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let now = SystemTime::now();
    (leaf.not_before, leaf.not_after) = if expired {
        ((now - 30 * DAY).into(), (now - DAY).into())
    } else {
        ((now - DAY).into(), (now + 30 * DAY).into())
    };
    let key = KeyPair::generate().map_err(fail)?;
    let cert = leaf.signed_by(&key, &issuer).map_err(fail)?;
    Identity::from_pem(&cert.pem(), &key.serialize_pem()).map_err(|e| e.to_string())
}
