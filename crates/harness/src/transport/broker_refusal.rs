//! Why a connection to a broker failed before it was up, in words a user can act on: a server
//! certificate not trusted or not valid for the name, the broker refusing the client
//! certificate (by a TLS alert, as mosquitto does, or by closing the connection during or right
//! after the handshake, before CONNACK), a WebSocket upgrade refused. Anything else keeps
//! rumqttc's own words.

use std::error::Error;
use std::io;
use std::path::PathBuf;

use async_tungstenite::tungstenite;
use rumqttc::{ConnectionError, StateError};
use rustls::{AlertDescription, CertificateError};

use super::http::error_chain;

/// What was being attempted, for the words.
#[derive(Debug, Clone, Default)]
pub(super) struct Attempt {
    /// The host the server certificate must name.
    pub host: String,
    /// Whether the connection is TLS.
    pub tls: bool,
    /// Whether a WebSocket URL was presigned.
    pub signed: bool,
    /// The client certificate presented (a path; never its contents).
    pub certificate: Option<PathBuf>,
}

/// What ended a connection attempt, as far as the words for it go.
#[derive(Debug, Clone, PartialEq)]
enum Cause {
    /// The server's certificate failed our check.
    ServerCertificate(CertificateError),
    /// The peer sent a TLS alert.
    Alert(AlertDescription),
    /// The peer closed the connection (or reset it) before answering CONNECT: during the TLS
    /// handshake (or a WebSocket upgrade), or after it.
    Closed { in_handshake: bool },
    /// The WebSocket upgrade was answered with another status; the body says why.
    Upgrade { status: String, reason: String },
    /// Anything else.
    Other,
}

/// The words for `e`, which ended `attempt` before the broker acknowledged the connection.
pub(super) fn explain(e: &ConnectionError, attempt: &Attempt) -> String {
    words(&cause(e), attempt).unwrap_or_else(|| error_chain(e))
}

fn cause(e: &ConnectionError) -> Cause {
    if let ConnectionError::Websocket(tungstenite::Error::Http(response)) = e {
        let body = response.body().as_deref().unwrap_or_default();
        return Cause::Upgrade {
            status: response.status().to_string(),
            reason: String::from_utf8_lossy(body)
                .chars()
                .take(REASON_CHARS)
                .collect::<String>()
                .trim()
                .to_string(),
        };
    }
    let mut closed = false;
    let mut at: Option<&(dyn Error + 'static)> = Some(e);
    while let Some(node) = at {
        let tls = node.downcast_ref::<rustls::Error>().or_else(|| {
            node.downcast_ref::<io::Error>()
                .and_then(io::Error::get_ref)
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        match tls {
            Some(rustls::Error::InvalidCertificate(c)) => {
                return Cause::ServerCertificate(c.clone());
            }
            Some(rustls::Error::AlertReceived(a)) => return Cause::Alert(*a),
            _ => {}
        }
        closed |= matches!(
            node.downcast_ref::<StateError>(),
            Some(StateError::ConnectionAborted)
        ) || node.downcast_ref::<io::Error>().is_some_and(|io| {
            matches!(
                io.kind(),
                io::ErrorKind::UnexpectedEof
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
            )
        });
        at = node.source();
    }
    match closed {
        true => Cause::Closed {
            in_handshake: matches!(e, ConnectionError::Tls(_) | ConnectionError::Websocket(_)),
        },
        false => Cause::Other,
    }
}

/// Longest reason of a refused upgrade quoted.
const REASON_CHARS: usize = 300;

/// The alerts a server sends when it does not accept the client's certificate (or wants one).
fn refuses_certificate(alert: AlertDescription) -> bool {
    matches!(
        alert,
        AlertDescription::BadCertificate
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::CertificateRevoked
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnknownCA
            | AlertDescription::AccessDenied
            | AlertDescription::CertificateRequired
            | AlertDescription::NoCertificate
    )
}

fn words(cause: &Cause, attempt: &Attempt) -> Option<String> {
    let host = &attempt.host;
    let refused = |why: &str| match &attempt.certificate {
        Some(path) => format!(
            "the broker refused the client certificate {} ({why}): is it issued by a CA the \
             broker trusts, valid now and not revoked?",
            path.display()
        ),
        None => format!(
            "the broker refused the connection ({why}) and no client certificate was \
             presented: give one with --cert and --key"
        ),
    };
    Some(match cause {
        Cause::ServerCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => {
            let names = match cause {
                Cause::ServerCertificate(CertificateError::NotValidForNameContext {
                    presented,
                    ..
                }) => format!(" (it names {})", presented.join(", ")),
                _ => String::new(),
            };
            format!(
                "the server certificate is not valid for the name {host}{names}: connect by a \
                 name the certificate carries"
            )
        }
        Cause::ServerCertificate(c) => format!(
            "the server certificate is not trusted ({}): give the CA that issued it with --ca",
            untrusted(c)
        ),
        Cause::Alert(a) if refuses_certificate(*a) => refused(&format!("TLS alert {a:?}")),
        Cause::Closed {
            in_handshake: false,
        } if attempt.tls => refused(
            "it closed the connection right after the TLS handshake, before answering CONNECT",
        ),
        // A TLS 1.2 server refuses a certificate before the handshake ends; a port that does
        // not speak TLS closes on the client's first bytes too.
        Cause::Closed { in_handshake: true } if attempt.tls => match &attempt.certificate {
            Some(path) => format!(
                "the broker refused the client certificate {}, or does not speak TLS on this \
                 port: it closed the connection during the TLS handshake",
                path.display()
            ),
            None => "the broker closed the connection during the TLS handshake: it does not \
                     speak TLS on this port, or wants a client certificate (--cert and --key)"
                .to_string(),
        },
        Cause::Upgrade { status, reason } => {
            let reason = if reason.is_empty() {
                String::new()
            } else {
                format!(": {reason}")
            };
            let hint = match (status.starts_with("403"), attempt.signed) {
                (true, true) => {
                    " (the presigned URL's SigV4 signature was not accepted: check \
                                 the credentials, the region and the clock)"
                }
                (true, false) => {
                    " (the URL was not signed: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY \
                     sign it)"
                }
                _ => "",
            };
            format!("the WebSocket upgrade was refused: {status}{reason}{hint}")
        }
        Cause::Alert(_) | Cause::Closed { .. } | Cause::Other => return None,
    })
}

/// Why a server certificate is not trusted, in a few words.
fn untrusted(c: &CertificateError) -> String {
    match c {
        CertificateError::UnknownIssuer => "not issued by a trusted CA".into(),
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => "expired".into(),
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "not valid yet".into()
        }
        CertificateError::Revoked => "revoked".into(),
        CertificateError::BadSignature => "its signature does not check".into(),
        other => rustls::Error::InvalidCertificate(other.clone()).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    fn tls_io(e: rustls::Error) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }

    #[rstest]
    #[case::handshake_untrusted(
        ConnectionError::Tls(rumqttc::TlsError::Io(tls_io(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer
        )))),
        Cause::ServerCertificate(CertificateError::UnknownIssuer)
    )]
    #[case::alert_reading_connack(
        ConnectionError::Io(tls_io(rustls::Error::AlertReceived(AlertDescription::UnknownCA))),
        Cause::Alert(AlertDescription::UnknownCA)
    )]
    #[case::alert_in_state(
        ConnectionError::MqttState(StateError::Io(tls_io(rustls::Error::AlertReceived(
            AlertDescription::CertificateRequired
        )))),
        Cause::Alert(AlertDescription::CertificateRequired)
    )]
    #[case::eof(
        ConnectionError::Io(io::ErrorKind::UnexpectedEof.into()),
        Cause::Closed { in_handshake: false }
    )]
    #[case::reset_in_handshake(
        ConnectionError::Tls(rumqttc::TlsError::Io(io::ErrorKind::ConnectionReset.into())),
        Cause::Closed { in_handshake: true }
    )]
    #[case::reset_in_upgrade(
        ConnectionError::Websocket(tungstenite::Error::Io(io::ErrorKind::ConnectionReset.into())),
        Cause::Closed { in_handshake: true }
    )]
    #[case::aborted(
        ConnectionError::MqttState(StateError::ConnectionAborted),
        Cause::Closed { in_handshake: false }
    )]
    #[case::refused_tcp(
        ConnectionError::Io(io::ErrorKind::ConnectionRefused.into()),
        Cause::Other
    )]
    #[case::timeout(ConnectionError::NetworkTimeout, Cause::Other)]
    fn causes_are_found_in_the_error_chain(#[case] e: ConnectionError, #[case] want: Cause) {
        assert_eq!(cause(&e), want, "{e}");
    }

    #[test]
    fn a_refused_upgrade_keeps_its_status_and_reason() {
        let response = http::Response::builder()
            .status(403)
            .body(Some(b"signature does not match".to_vec()))
            .unwrap();
        let e = ConnectionError::Websocket(tungstenite::Error::Http(response));
        assert_eq!(
            cause(&e),
            Cause::Upgrade {
                status: "403 Forbidden".into(),
                reason: "signature does not match".into()
            }
        );
    }

    fn attempt(tls: bool, certificate: Option<&str>, signed: bool) -> Attempt {
        Attempt {
            host: "broker.example".into(),
            tls,
            signed,
            certificate: certificate.map(PathBuf::from),
        }
    }

    #[rstest]
    #[case::untrusted(
        Cause::ServerCertificate(CertificateError::UnknownIssuer),
        attempt(true, None, false),
        Some(
            "the server certificate is not trusted (not issued by a trusted CA): give the CA that issued it with --ca"
        )
    )]
    #[case::expired(
        Cause::ServerCertificate(CertificateError::Expired),
        attempt(true, None, false),
        Some("not trusted (expired)")
    )]
    #[case::name(
        Cause::ServerCertificate(CertificateError::NotValidForName),
        attempt(true, None, false),
        Some("the server certificate is not valid for the name broker.example: connect by")
    )]
    #[case::alert(
        Cause::Alert(AlertDescription::UnknownCA),
        attempt(true, Some("pki/dev-1.pem"), false),
        Some("the broker refused the client certificate pki/dev-1.pem (TLS alert UnknownCA)")
    )]
    #[case::alert_without_certificate(
        Cause::Alert(AlertDescription::CertificateRequired),
        attempt(true, None, false),
        Some("no client certificate was presented: give one with --cert and --key")
    )]
    #[case::closed_after_handshake(
        Cause::Closed { in_handshake: false },
        attempt(true, Some("pki/dev-1.pem"), false),
        Some(
            "the broker refused the client certificate pki/dev-1.pem (it closed the connection right after the TLS handshake"
        )
    )]
    #[case::closed_in_handshake(
        Cause::Closed { in_handshake: true },
        attempt(true, Some("pki/dev-1.pem"), false),
        Some(
            "the broker refused the client certificate pki/dev-1.pem, or does not speak TLS on this port: it closed the connection during the TLS handshake"
        )
    )]
    #[case::closed_in_handshake_without_certificate(
        Cause::Closed { in_handshake: true },
        attempt(true, None, false),
        Some("it does not speak TLS on this port, or wants a client certificate (--cert and --key)")
    )]
    #[case::closed_in_plain_text(
        Cause::Closed { in_handshake: false },
        attempt(false, None, false),
        None
    )]
    #[case::other_alert(
        Cause::Alert(AlertDescription::ProtocolVersion),
        attempt(true, Some("c.pem"), false),
        None
    )]
    #[case::upgrade_signed(
        Cause::Upgrade { status: "403 Forbidden".into(), reason: "bad signature".into() },
        attempt(true, None, true),
        Some("the WebSocket upgrade was refused: 403 Forbidden: bad signature (the presigned URL's SigV4 signature")
    )]
    #[case::upgrade_unsigned(
        Cause::Upgrade { status: "403 Forbidden".into(), reason: String::new() },
        attempt(true, None, false),
        Some("refused: 403 Forbidden (the URL was not signed")
    )]
    #[case::upgrade_not_found(
        Cause::Upgrade { status: "404 Not Found".into(), reason: "no such path".into() },
        attempt(false, None, false),
        Some("refused: 404 Not Found: no such path")
    )]
    #[case::other(Cause::Other, attempt(true, Some("c.pem"), false), None)]
    fn words_say_what_to_do(
        #[case] cause: Cause,
        #[case] attempt: Attempt,
        #[case] want: Option<&str>,
    ) {
        let got = words(&cause, &attempt);
        match (&got, want) {
            (Some(text), Some(part)) => assert!(text.contains(part), "{text}"),
            (None, None) => {}
            _ => panic!("{cause:?}: got {got:?}, wanted {want:?}"),
        }
    }
}
