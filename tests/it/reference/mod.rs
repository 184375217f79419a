//! The reference server: request constraints, semantics, SigV4, timers, paced rollouts and
//! aborts, the control plane's executions and things, the bounds on state, MQTT and MQTT at
//! scale.

mod admission;
mod control;
mod hostile_clients;
mod http_constraints;
mod http_guard;
mod mqtt;
mod mqtt_scale;
mod rollout;
mod semantics;
mod sigv4;
mod state_bounds;
mod timers;
