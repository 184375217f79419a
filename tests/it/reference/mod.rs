//! The reference server: request constraints, semantics, timers, MQTT and MQTT at scale.

mod admission;
mod http_constraints;
mod mqtt;
mod mqtt_scale;
mod semantics;
mod timers;
