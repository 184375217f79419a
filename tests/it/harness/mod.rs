//! The conformance harness against broken targets (HTTP, MQTT, hostile sockets) and through
//! mosquitto.

mod attach_mosquitto;
mod hostile_targets;
mod nonconforming;
mod nonconforming_mqtt;
mod seeding;
