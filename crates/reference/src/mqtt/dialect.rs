//! MQTT 3.1.1 and 5 behind one set of messages, on rumqttc's packet codecs.

use bytes::Bytes;
use rumqttc::mqttbytes::QoS;
use rumqttc::mqttbytes::v4;
use rumqttc::v5::mqttbytes::v5;
use tokio_util::codec::{Decoder, Encoder};

/// What a client sent, whatever its protocol version.
#[derive(Debug)]
pub enum Incoming {
    /// CONNECT.
    Connect {
        /// Client id (may be empty).
        client_id: String,
        /// Keep-alive, in seconds (0 = none).
        keep_alive: u16,
    },
    /// PUBLISH.
    Publish {
        /// Topic.
        topic: String,
        /// Payload.
        payload: Bytes,
        /// QoS 0, 1 or 2.
        qos: u8,
        /// Packet id (QoS 1 and 2).
        pkid: u16,
    },
    /// SUBSCRIBE: packet id, filters with their requested QoS.
    Subscribe(u16, Vec<(String, u8)>),
    /// UNSUBSCRIBE: packet id, filters.
    Unsubscribe(u16, Vec<String>),
    /// PINGREQ.
    Ping,
    /// DISCONNECT.
    Disconnect,
    /// Anything the broker does not act on (PUBACK and the QoS 2 flow's packets).
    Other,
}

/// What the broker sends, whatever the client's protocol version.
#[derive(Debug)]
pub enum Reply {
    /// CONNACK, accepted.
    ConnAck,
    /// CONNACK, refused: not authorised.
    NotAuthorized,
    /// PUBLISH.
    Publish {
        /// Topic.
        topic: String,
        /// Payload.
        payload: Bytes,
        /// 0 or 1.
        qos: u8,
        /// Packet id (QoS 1).
        pkid: u16,
    },
    /// PUBACK.
    PubAck(u16),
    /// SUBACK: packet id, what each filter got.
    SubAck(u16, Vec<Grant>),
    /// UNSUBACK: packet id, number of filters.
    UnsubAck(u16, usize),
    /// PINGRESP.
    Pong,
}

/// What a SUBSCRIBE got for one filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// Subscribed at this QoS.
    QoS(u8),
    /// Refused: not a valid filter.
    InvalidFilter,
    /// Refused: the policy does not allow it.
    NotAuthorized,
}

fn qos(q: u8) -> QoS {
    match q {
        0 => QoS::AtMostOnce,
        _ => QoS::AtLeastOnce,
    }
}

fn qos5(q: u8) -> rumqttc::v5::mqttbytes::QoS {
    match q {
        0 => rumqttc::v5::mqttbytes::QoS::AtMostOnce,
        _ => rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
    }
}

/// One MQTT protocol version: its codec and how its packets map to [`Incoming`] and [`Reply`].
pub trait Dialect: Send + 'static {
    /// The packet type.
    type Packet: Send;
    /// The codec.
    type Codec: Decoder<Item = Self::Packet, Error = Self::Error>
        + Encoder<Self::Packet, Error = Self::Error>
        + Send
        + Unpin;
    /// Codec errors.
    type Error: std::fmt::Display + From<std::io::Error> + Send;
    /// A codec refusing packets larger than `max` bytes.
    fn codec(max: usize) -> Self::Codec;
    /// Reads a packet.
    fn incoming(packet: Self::Packet) -> Incoming;
    /// Writes a reply.
    fn reply(reply: Reply) -> Self::Packet;
    /// What a CONNECT over a connect quota gets before the connection is closed, if anything.
    fn throttled() -> Option<Self::Packet>;
}

/// MQTT 3.1.1.
pub struct V4;

impl Dialect for V4 {
    type Packet = v4::Packet;
    type Codec = v4::Codec;
    type Error = rumqttc::mqttbytes::Error;

    fn codec(max: usize) -> Self::Codec {
        v4::Codec {
            max_incoming_size: max,
            max_outgoing_size: max,
        }
    }

    fn incoming(packet: v4::Packet) -> Incoming {
        match packet {
            v4::Packet::Connect(c) => Incoming::Connect {
                client_id: c.client_id,
                keep_alive: c.keep_alive,
            },
            v4::Packet::Publish(p) => Incoming::Publish {
                topic: p.topic,
                payload: p.payload,
                qos: p.qos as u8,
                pkid: p.pkid,
            },
            v4::Packet::Subscribe(s) => Incoming::Subscribe(
                s.pkid,
                s.filters
                    .into_iter()
                    .map(|f| (f.path, f.qos as u8))
                    .collect(),
            ),
            v4::Packet::Unsubscribe(u) => Incoming::Unsubscribe(u.pkid, u.topics),
            v4::Packet::PingReq => Incoming::Ping,
            v4::Packet::Disconnect => Incoming::Disconnect,
            _ => Incoming::Other,
        }
    }

    fn reply(reply: Reply) -> v4::Packet {
        match reply {
            Reply::ConnAck => {
                v4::Packet::ConnAck(v4::ConnAck::new(v4::ConnectReturnCode::Success, false))
            }
            Reply::NotAuthorized => v4::Packet::ConnAck(v4::ConnAck::new(
                v4::ConnectReturnCode::NotAuthorized,
                false,
            )),
            Reply::Publish {
                topic,
                payload,
                qos: q,
                pkid,
            } => {
                let mut p = v4::Publish::new(topic, qos(q), payload.to_vec());
                p.pkid = pkid;
                v4::Packet::Publish(p)
            }
            Reply::PubAck(pkid) => v4::Packet::PubAck(v4::PubAck::new(pkid)),
            Reply::SubAck(pkid, granted) => v4::Packet::SubAck(v4::SubAck::new(
                pkid,
                granted
                    .into_iter()
                    .map(|g| match g {
                        Grant::QoS(q) => v4::SubscribeReasonCode::Success(qos(q)),
                        Grant::InvalidFilter | Grant::NotAuthorized => {
                            v4::SubscribeReasonCode::Failure
                        }
                    })
                    .collect(),
            )),
            Reply::UnsubAck(pkid, _) => v4::Packet::UnsubAck(v4::UnsubAck::new(pkid)),
            Reply::Pong => v4::Packet::PingResp,
        }
    }

    /// Nothing: 3.1.1 has no return code for a throttled CONNECT, and a server none of whose
    /// codes applies closes the connection without a CONNACK (MQTT 3.1.1 §3.2.2.3).
    fn throttled() -> Option<v4::Packet> {
        None
    }
}

/// MQTT 5.
pub struct V5;

/// rumqttc's MQTT 5 codec, reading a DISCONNECT itself: the codec takes a DISCONNECT that has a
/// reason code but no property length (allowed, MQTT 5 §3.14.2.2.1) off the stream and then
/// reports that it needs more bytes, losing the packet.
pub struct V5Codec(v5::Codec);

impl Decoder for V5Codec {
    type Item = v5::Packet;
    type Error = rumqttc::v5::mqttbytes::Error;

    fn decode(&mut self, src: &mut bytes::BytesMut) -> Result<Option<v5::Packet>, Self::Error> {
        if src.first() == Some(&0xE0) {
            let mut length = 0usize;
            for (i, byte) in src.iter().skip(1).take(4).enumerate() {
                length |= usize::from(byte & 0x7F) << (7 * i);
                if byte & 0x80 == 0 {
                    let total = 2 + i + length;
                    if src.len() < total {
                        return Ok(None);
                    }
                    let _ = src.split_to(total);
                    return Ok(Some(v5::Packet::Disconnect(v5::Disconnect::new(
                        v5::DisconnectReasonCode::NormalDisconnection,
                    ))));
                }
            }
            if src.len() < 5 {
                return Ok(None);
            }
        }
        self.0.decode(src)
    }
}

impl Encoder<v5::Packet> for V5Codec {
    type Error = rumqttc::v5::mqttbytes::Error;

    fn encode(&mut self, item: v5::Packet, dst: &mut bytes::BytesMut) -> Result<(), Self::Error> {
        self.0.encode(item, dst)
    }
}

impl Dialect for V5 {
    type Packet = v5::Packet;
    type Codec = V5Codec;
    type Error = rumqttc::v5::mqttbytes::Error;

    fn codec(max: usize) -> Self::Codec {
        V5Codec(v5::Codec {
            max_incoming_size: Some(max as u32),
            max_outgoing_size: None,
        })
    }

    fn incoming(packet: v5::Packet) -> Incoming {
        match packet {
            v5::Packet::Connect(c, _, _) => Incoming::Connect {
                client_id: c.client_id,
                keep_alive: c.keep_alive,
            },
            v5::Packet::Publish(p) => Incoming::Publish {
                topic: String::from_utf8_lossy(&p.topic).into_owned(),
                payload: p.payload,
                qos: p.qos as u8,
                pkid: p.pkid,
            },
            v5::Packet::Subscribe(s) => Incoming::Subscribe(
                s.pkid,
                s.filters
                    .into_iter()
                    .map(|f| (f.path, f.qos as u8))
                    .collect(),
            ),
            v5::Packet::Unsubscribe(u) => Incoming::Unsubscribe(u.pkid, u.filters),
            v5::Packet::PingReq(_) => Incoming::Ping,
            v5::Packet::Disconnect(_) => Incoming::Disconnect,
            _ => Incoming::Other,
        }
    }

    fn reply(reply: Reply) -> v5::Packet {
        match reply {
            Reply::ConnAck => v5::Packet::ConnAck(v5::ConnAck {
                session_present: false,
                code: v5::ConnectReturnCode::Success,
                properties: None,
            }),
            Reply::NotAuthorized => v5::Packet::ConnAck(v5::ConnAck {
                session_present: false,
                code: v5::ConnectReturnCode::NotAuthorized,
                properties: None,
            }),
            Reply::Publish {
                topic,
                payload,
                qos: q,
                pkid,
            } => v5::Packet::Publish(v5::Publish {
                dup: false,
                qos: qos5(q),
                retain: false,
                topic: Bytes::from(topic),
                pkid,
                payload,
                properties: None,
            }),
            Reply::PubAck(pkid) => v5::Packet::PubAck(v5::PubAck::new(pkid, None)),
            Reply::SubAck(pkid, granted) => v5::Packet::SubAck(v5::SubAck {
                pkid,
                return_codes: granted
                    .into_iter()
                    .map(|g| match g {
                        Grant::QoS(q) => v5::SubscribeReasonCode::Success(qos5(q)),
                        Grant::InvalidFilter => v5::SubscribeReasonCode::TopicFilterInvalid,
                        Grant::NotAuthorized => v5::SubscribeReasonCode::NotAuthorized,
                    })
                    .collect(),
                properties: None,
            }),
            Reply::UnsubAck(pkid, n) => v5::Packet::UnsubAck(v5::UnsubAck {
                pkid,
                reasons: vec![v5::UnsubAckReason::Success; n],
                properties: None,
            }),
            Reply::Pong => v5::Packet::PingResp(v5::PingResp),
        }
    }

    /// CONNACK 0x9F "Connection rate exceeded", MQTT 5's code for it.
    fn throttled() -> Option<v5::Packet> {
        Some(v5::Packet::ConnAck(v5::ConnAck {
            session_present: false,
            code: v5::ConnectReturnCode::ConnectionRateExceeded,
            properties: None,
        }))
    }
}
