//! Raw MQTT bytes, for what a well-behaved client library will not send.

use super::*;

pub(super) fn varint(mut n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let mut b = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            b |= 0x80;
        }
        out.push(b);
        if n == 0 {
            return out;
        }
    }
}

pub(super) fn frame(first: u8, body: &[u8]) -> Vec<u8> {
    let mut p = vec![first];
    p.extend(varint(body.len()));
    p.extend_from_slice(body);
    p
}

pub(super) fn mqtt_string(s: &[u8]) -> Vec<u8> {
    let mut out = u16::try_from(s.len())
        .expect("short")
        .to_be_bytes()
        .to_vec();
    out.extend_from_slice(s);
    out
}

pub(super) fn connect_packet(proto: Proto, id: &str) -> Vec<u8> {
    let mut b = mqtt_string(b"MQTT");
    b.push(if proto == Proto::V4 { 4 } else { 5 });
    b.push(0x02); // clean session
    b.extend(30u16.to_be_bytes());
    if proto == Proto::V5 {
        b.push(0); // no properties
    }
    b.extend(mqtt_string(id.as_bytes()));
    frame(0x10, &b)
}

pub(super) fn publish_packet(
    proto: Proto,
    topic: &str,
    qos: u8,
    pkid: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut b = mqtt_string(topic.as_bytes());
    if qos > 0 {
        b.extend(pkid.to_be_bytes());
    }
    if proto == Proto::V5 {
        b.push(0); // no properties
    }
    b.extend_from_slice(payload);
    frame(0x30 | (qos << 1), &b)
}

/// A SUBSCRIBE of one filter at QoS 0.
pub(super) fn subscribe_packet(proto: Proto, filter: &str, pkid: u16) -> Vec<u8> {
    let mut b = pkid.to_be_bytes().to_vec();
    if proto == Proto::V5 {
        b.push(0); // no properties
    }
    b.extend(mqtt_string(filter.as_bytes()));
    b.push(0); // QoS 0
    frame(0x82, &b)
}

/// An UNSUBSCRIBE of one filter.
pub(super) fn unsubscribe_packet(proto: Proto, filter: &str, pkid: u16) -> Vec<u8> {
    let mut b = pkid.to_be_bytes().to_vec();
    if proto == Proto::V5 {
        b.push(0); // no properties
    }
    b.extend(mqtt_string(filter.as_bytes()));
    frame(0xA2, &b)
}

pub(super) fn disconnect_packet(proto: Proto) -> Vec<u8> {
    match proto {
        Proto::V4 => vec![0xE0, 0x00],
        Proto::V5 => vec![0xE0, 0x00],
    }
}

pub(super) async fn tcp(addr: SocketAddr) -> TcpStream {
    tokio::time::timeout(WAIT, TcpStream::connect(addr))
        .await
        .expect("TCP connect in time")
        .expect("TCP connect")
}

/// Reads one packet: its first byte and body; `None` at end of stream or on a reset.
pub(super) async fn read_packet(stream: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let first = stream.read_u8().await.ok()?;
    let (mut len, mut shift) = (0usize, 0);
    loop {
        let b = stream.read_u8().await.ok()?;
        len |= usize::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            break;
        }
    }
    let mut body = vec![0; len];
    stream.read_exact(&mut body).await.ok()?;
    Some((first, body))
}

/// A raw session: CONNECT written and CONNACK (success) read.
pub(super) async fn raw_session(addr: SocketAddr, proto: Proto, id: &str) -> TcpStream {
    let mut s = tcp(addr).await;
    s.write_all(&connect_packet(proto, id))
        .await
        .expect("CONNECT");
    let (first, body) = tokio::time::timeout(WAIT, read_packet(&mut s))
        .await
        .expect("CONNACK in time")
        .expect("CONNACK");
    assert_eq!(first, 0x20, "CONNACK expected");
    assert_eq!(body.get(1), Some(&0), "CONNACK reason must be success");
    s
}

/// What the broker sent before closing the stream, or `None` if it is still open after
/// [`WAIT`].
pub(super) async fn drained_until_closed(stream: &mut TcpStream) -> Option<Vec<u8>> {
    crate::common::read_until_closed(stream, WAIT).await
}

/// Whether the broker closes the stream within [`WAIT`].
pub(super) async fn closed_by_broker(stream: &mut TcpStream) -> bool {
    drained_until_closed(stream).await.is_some()
}
