//! The reference server: request constraints, semantics, SigV4, timers, paced rollouts and
//! aborts, MQTT and MQTT at scale.

mod admission;
mod http_constraints;
mod mqtt;
mod mqtt_scale;
mod rollout;
mod semantics;
mod sigv4;
mod timers;
