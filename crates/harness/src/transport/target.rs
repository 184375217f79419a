//! What a run talks to: the data plane (an HTTP endpoint or an MQTT broker), the control plane
//! that seeds things and jobs, how fast the target's clock runs, how requests are signed, and
//! the region and account its thing ARNs name. Every driver and command reads its target here,
//! so URLs are parsed once, by one set of rules.

use jobcert_contract::Binding;
use url::Url;

use super::http::Endpoint;
use super::sigv4::Signer;
use super::tls::ClientTls;

/// SigV4 signing name of the data plane.
pub const DATA_SERVICE: &str = "iot-jobs-data";
/// SigV4 signing name of the control plane.
pub const CONTROL_SERVICE: &str = "iot";

/// Why a target URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// Not a URL at all.
    #[error("{url} is not a URL: {reason}")]
    Url {
        /// The text given.
        url: String,
        /// What the parser said.
        reason: String,
    },
    /// A scheme this place does not take.
    #[error("{url}: expected {expected} URL")]
    Scheme {
        /// The text given.
        url: String,
        /// The schemes taken, as a phrase.
        expected: &'static str,
    },
    /// No host to connect to.
    #[error("{0} names no host")]
    NoHost(String),
    /// A query or fragment, which a base URL cannot carry.
    #[error("{0}: a base URL has no query or fragment")]
    NotABase(String),
}

/// An MQTT broker carrying the Jobs topics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broker {
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
    /// The path of MQTT over WebSockets (`/mqtt` at AWS IoT); none for MQTT over TCP.
    pub websocket: Option<String>,
    /// Whether the connection is TLS (`mqtts://`, `wss://`).
    pub tls: bool,
}

impl Broker {
    /// A broker speaking MQTT over plain TCP.
    pub fn tcp(host: impl Into<String>, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
            websocket: None,
            tls: false,
        }
    }

    /// `mqtt://`, `mqtts://`, `ws://…/path` or `wss://…/path`, as records name it.
    pub fn url(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let s = if self.tls { "s" } else { "" };
        match &self.websocket {
            Some(path) => format!("ws{s}://{host}:{}{path}", self.port),
            None => format!("mqtt{s}://{host}:{}", self.port),
        }
    }

    /// The ALPN protocol offered in the TLS handshake: AWS IoT serves MQTT over TLS on port
    /// 443 only to a client that offers `x-amzn-mqtt-ca` (as its Device SDKs do); elsewhere,
    /// and over WebSockets (plain HTTPS on 443), none is offered.
    pub fn alpn(&self) -> Option<&'static [u8]> {
        (self.tls && self.websocket.is_none() && self.port == HTTPS_PORT).then_some(AWS_MQTT_ALPN)
    }
}

/// The ALPN protocol of MQTT over TLS on port 443 at AWS IoT (spec §3.1).
pub const AWS_MQTT_ALPN: &[u8] = b"x-amzn-mqtt-ca";

/// Where device requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataPlane {
    /// The REST-JSON endpoint.
    Http(Endpoint),
    /// An MQTT broker.
    Mqtt(Broker),
}

impl DataPlane {
    /// Parses an `http://`, `https://`, `mqtt://`, `mqtts://` (MQTT over TLS), `ws://` or
    /// `wss://` (MQTT over WebSockets) URL. MQTT's port defaults to 1883, over TLS to 8883;
    /// WebSockets' to 80, over TLS to 443.
    pub fn parse(text: &str) -> Result<Self, TargetError> {
        const EXPECTED: &str = "an http://, https://, mqtt://, mqtts://, ws:// or wss://";
        let url = parse(text)?;
        match url.scheme() {
            "http" | "https" => base(text, &url, DATA_SERVICE).map(Self::Http),
            scheme @ ("mqtt" | "mqtts" | "ws" | "wss") => {
                let host = match url.host() {
                    Some(url::Host::Ipv6(a)) => a.to_string(),
                    Some(h) => h.to_string(),
                    None => return Err(TargetError::NoHost(text.to_string())),
                };
                let websocket = scheme.starts_with("ws").then(|| url.path().to_string());
                let tls = matches!(scheme, "mqtts" | "wss");
                let default = match scheme {
                    "mqtts" => MQTTS_PORT,
                    _ => MQTT_PORT,
                };
                let port = url.port_or_known_default().unwrap_or(default);
                Ok(Self::Mqtt(Broker {
                    host,
                    port,
                    websocket,
                    tls,
                }))
            }
            _ => Err(TargetError::Scheme {
                url: text.to_string(),
                expected: EXPECTED,
            }),
        }
    }

    /// The binding this data plane speaks.
    pub fn binding(&self) -> Binding {
        match self {
            Self::Http(_) => Binding::Http,
            Self::Mqtt(_) => Binding::Mqtt,
        }
    }

    /// Its URL, as records name it.
    pub fn url(&self) -> String {
        match self {
            Self::Http(e) => e.base.clone(),
            Self::Mqtt(b) => b.url(),
        }
    }
}

/// The IANA port of plain MQTT.
const MQTT_PORT: u16 = 1883;
/// The IANA port of MQTT over TLS.
const MQTTS_PORT: u16 = 8883;
/// HTTPS's port, where AWS IoT also serves MQTT over TLS (with ALPN) and over WebSockets.
const HTTPS_PORT: u16 = 443;

/// Parses the control plane's `http://` or `https://` URL.
pub fn control_plane(text: &str) -> Result<Endpoint, TargetError> {
    let url = parse(text)?;
    match url.scheme() {
        "http" | "https" => base(text, &url, CONTROL_SERVICE),
        _ => Err(TargetError::Scheme {
            url: text.to_string(),
            expected: "an http:// or https://",
        }),
    }
}

fn parse(text: &str) -> Result<Url, TargetError> {
    Url::parse(text).map_err(|e| TargetError::Url {
        url: text.to_string(),
        reason: e.to_string(),
    })
}

/// An HTTP endpoint at `url`, without a trailing slash (requests add their own path).
fn base(text: &str, url: &Url, service: &'static str) -> Result<Endpoint, TargetError> {
    if url.host().is_none() {
        return Err(TargetError::NoHost(text.to_string()));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(TargetError::NotABase(text.to_string()));
    }
    Ok(Endpoint {
        base: url.as_str().trim_end_matches('/').to_string(),
        service,
    })
}

/// A thing's ARN as jobs target it, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThingArn {
    /// The ARN.
    pub arn: String,
    /// Whether the target returned it from CreateThing; else it was made from the run's
    /// region and account, which may not be where the target files its things.
    pub returned: bool,
}

/// The target of a run.
#[derive(Debug, Clone)]
pub struct Target {
    /// Data plane.
    pub data: DataPlane,
    /// Control plane, which seeds things and jobs.
    pub control: Endpoint,
    /// How fast the target's clock runs (1 for real targets).
    pub time_scale: f64,
    /// Signs every request when set.
    pub signer: Option<Signer>,
    /// Region of thing ARNs.
    pub region: String,
    /// Account of thing ARNs.
    pub account_id: String,
    /// Whether it is the reference server the command started.
    pub embedded: bool,
    /// Which server certificates are trusted over `https://`, and the client certificate.
    pub tls: ClientTls,
}

impl Target {
    /// Whether requests to it go out unsigned though it is not the embedded reference (which
    /// checks no signature): a target that routes or authorises by SigV4 refuses them.
    pub fn unsigned(&self) -> bool {
        self.signer.is_none() && !self.embedded
    }

    /// The one-line notice a run prints before it starts when [`Self::unsigned`].
    pub fn unsigned_notice(&self) -> Option<String> {
        self.unsigned().then(|| {
            let data = self.data.url();
            let to = if data == self.control.base {
                data
            } else {
                format!("{data} and {}", self.control.base)
            };
            format!(
                "requests to {to} go out unsigned (no AWS credentials in the environment or the \
                 shared credentials file): a target that routes or authorises by SigV4 refuses them; to sign, {}",
                super::HOW_TO_SIGN
            )
        })
    }

    /// The binding its data plane speaks.
    pub fn binding(&self) -> Binding {
        self.data.binding()
    }

    /// The ARN of thing `name` in the run's region and account.
    pub fn thing_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:iot:{}:{}:thing/{name}",
            self.region, self.account_id
        )
    }

    /// The ARN jobs target thing `name` at: the one its CreateThing `returned`, else the
    /// run's own. The target knows its account; the run's `--account-id` is only a guess.
    pub fn job_target(&self, name: &str, returned: Option<String>) -> ThingArn {
        match returned {
            Some(arn) => ThingArn {
                arn,
                returned: true,
            },
            None => ThingArn {
                arn: self.thing_arn(name),
                returned: false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    fn http(base: &str) -> DataPlane {
        DataPlane::Http(Endpoint {
            base: base.into(),
            service: DATA_SERVICE,
        })
    }

    fn mqtt(host: &str, port: u16) -> DataPlane {
        DataPlane::Mqtt(Broker::tcp(host, port))
    }

    fn ws(host: &str, port: u16, path: &str) -> DataPlane {
        DataPlane::Mqtt(Broker {
            websocket: Some(path.into()),
            ..Broker::tcp(host, port)
        })
    }

    fn tls(plane: DataPlane) -> DataPlane {
        match plane {
            DataPlane::Mqtt(b) => DataPlane::Mqtt(Broker { tls: true, ..b }),
            http => http,
        }
    }

    #[rstest]
    #[case("http://127.0.0.1:9080", http("http://127.0.0.1:9080"))]
    #[case("http://127.0.0.1:9080/", http("http://127.0.0.1:9080"))]
    #[case("https://jobs.example.com/", http("https://jobs.example.com"))]
    #[case("https://jobs.example.com:443/", http("https://jobs.example.com"))]
    #[case("http://h:8/prefix/", http("http://h:8/prefix"))]
    #[case("mqtt://127.0.0.1:1884", mqtt("127.0.0.1", 1884))]
    #[case("mqtt://broker/", mqtt("broker", 1883))]
    #[case("mqtt://[::1]:1885", mqtt("::1", 1885))]
    #[case("ws://127.0.0.1:8080/mqtt", ws("127.0.0.1", 8080, "/mqtt"))]
    #[case("ws://gateway/mqtt", ws("gateway", 80, "/mqtt"))]
    #[case("mqtts://127.0.0.1:8884", tls(mqtt("127.0.0.1", 8884)))]
    #[case("mqtts://broker", tls(mqtt("broker", 8883)))]
    #[case("mqtts://iot.example.com:443", tls(mqtt("iot.example.com", 443)))]
    #[case("mqtts://[::1]", tls(mqtt("::1", 8883)))]
    #[case("wss://gateway/mqtt", tls(ws("gateway", 443, "/mqtt")))]
    #[case("wss://127.0.0.1:8443/mqtt", tls(ws("127.0.0.1", 8443, "/mqtt")))]
    fn data_planes_parse(#[case] text: &str, #[case] expected: DataPlane) {
        assert_eq!(DataPlane::parse(text), Ok(expected));
    }

    #[rstest]
    #[case("localhost:9080", "expected an http://")]
    #[case("ftp://h/", "expected an http://")]
    #[case(
        "mqtt+tls://h:8883",
        "expected an http://, https://, mqtt://, mqtts://"
    )]
    #[case("mqtts:///", "names no host")]
    #[case("http://h:99999", "not a URL")]
    #[case("http://h/?q=1", "no query or fragment")]
    #[case("mqtt:///", "names no host")]
    fn bad_data_planes_say_why(#[case] text: &str, #[case] why: &str) {
        let e = DataPlane::parse(text).unwrap_err().to_string();
        assert!(e.contains(why) && e.contains(text), "{e}");
    }

    #[rstest]
    #[case("http://127.0.0.1:9081/", Ok("http://127.0.0.1:9081"))]
    #[case("https://iot.example.com", Ok("https://iot.example.com"))]
    #[case("mqtt://127.0.0.1:1883", Err("expected an http:// or https:// URL"))]
    fn control_planes_are_http(#[case] text: &str, #[case] expected: Result<&str, &str>) {
        let parsed = control_plane(text);
        match (parsed, expected) {
            (Ok(e), Ok(base)) => assert_eq!((e.base.as_str(), e.service), (base, "iot")),
            (Err(e), Err(why)) => assert!(e.to_string().contains(why), "{e}"),
            (got, want) => panic!("{text}: got {got:?}, wanted {want:?}"),
        }
    }

    #[rstest]
    #[case(mqtt("::1", 1), "mqtt://[::1]:1")]
    #[case(mqtt("h", 2), "mqtt://h:2")]
    #[case(tls(mqtt("h", 8883)), "mqtts://h:8883")]
    #[case(ws("h", 80, "/mqtt"), "ws://h:80/mqtt")]
    #[case(tls(ws("h", 443, "/mqtt")), "wss://h:443/mqtt")]
    #[case(http("http://h"), "http://h")]
    fn urls_keep_their_scheme(#[case] plane: DataPlane, #[case] url: &str) {
        assert_eq!(plane.url(), url);
        assert_eq!(DataPlane::parse(url).map(|p| p.url()), Ok(url.to_string()));
    }

    #[rstest]
    #[case("mqtts://iot.example.com:443", Some(AWS_MQTT_ALPN))]
    #[case("mqtts://iot.example.com", None)]
    #[case("mqtts://127.0.0.1:8443", None)]
    #[case("wss://iot.example.com/mqtt", None)]
    #[case("mqtt://127.0.0.1:443", None)]
    #[case("ws://127.0.0.1:443/mqtt", None)]
    fn alpn_is_offered_for_mqtt_over_tls_on_443_only(
        #[case] url: &str,
        #[case] alpn: Option<&[u8]>,
    ) {
        let DataPlane::Mqtt(broker) = DataPlane::parse(url).unwrap() else {
            panic!("{url} is a broker")
        };
        assert_eq!(broker.alpn(), alpn, "{url}");
    }

    fn target() -> Target {
        Target {
            data: mqtt("h", 1),
            control: control_plane("http://c").unwrap(),
            time_scale: 1.0,
            signer: None,
            region: "eu-west-1".into(),
            account_id: "111122223333".into(),
            embedded: false,
            tls: ClientTls::default(),
        }
    }

    #[test]
    fn thing_arns_name_region_and_account() {
        assert_eq!(
            target().thing_arn("t-1"),
            "arn:aws:iot:eu-west-1:111122223333:thing/t-1"
        );
    }

    #[rstest]
    #[case(
        Some("arn:aws:iot:x:000000000000:thing/t-1"),
        "arn:aws:iot:x:000000000000:thing/t-1",
        true
    )]
    #[case(None, "arn:aws:iot:eu-west-1:111122223333:thing/t-1", false)]
    fn jobs_target_the_returned_arn_else_the_runs_own(
        #[case] returned: Option<&str>,
        #[case] arn: &str,
        #[case] was_returned: bool,
    ) {
        let t = target().job_target("t-1", returned.map(str::to_string));
        assert_eq!((t.arn.as_str(), t.returned), (arn, was_returned));
    }

    #[rstest]
    #[case::unsigned(
        false,
        false,
        "http://127.0.0.1:9080",
        Some("requests to http://127.0.0.1:9080 and http://127.0.0.1:9081 go out unsigned")
    )]
    #[case::one_port(
        false,
        false,
        "http://127.0.0.1:9081",
        Some("requests to http://127.0.0.1:9081 go out unsigned")
    )]
    #[case::signed(true, false, "http://127.0.0.1:9080", None)]
    #[case::embedded(false, true, "http://127.0.0.1:9080", None)]
    fn only_an_unsigned_foreign_target_gets_a_notice(
        #[case] signed: bool,
        #[case] embedded: bool,
        #[case] data: &str,
        #[case] starts: Option<&str>,
    ) {
        let t = Target {
            data: DataPlane::parse(data).unwrap(),
            control: control_plane("http://127.0.0.1:9081").unwrap(),
            signer: signed
                .then(|| Signer::new("AKID".into(), "SECRETKEY".into(), None, "eu-west-1")),
            embedded,
            ..target()
        };
        let notice = t.unsigned_notice();
        assert_eq!(notice.is_some(), starts.is_some(), "{notice:?}");
        if let (Some(n), Some(s)) = (notice, starts) {
            assert!(n.starts_with(s) && n.contains("AWS_ACCESS_KEY_ID"), "{n}");
        }
    }
}
