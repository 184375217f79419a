//! The conformance harness against broken and differently-configured targets (HTTP, MQTT,
//! hostile sockets, another account), through mosquitto, and its notification inbox.

mod attach_mosquitto;
mod hostile_targets;
mod nonconforming;
mod nonconforming_mqtt;
mod notify_inbox;
mod seeding;
