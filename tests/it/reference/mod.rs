//! The reference server: request constraints, semantics, SigV4, timers, MQTT and MQTT at
//! scale.

mod admission;
mod http_constraints;
mod mqtt;
mod mqtt_scale;
mod semantics;
mod sigv4;
mod timers;
