//! The conformance harness against broken and differently-configured targets (HTTP, MQTT,
//! hostile sockets, another account), through mosquitto, its notification inbox, and the
//! commands its reports print.

mod attach_mosquitto;
mod conformant_different;
mod hostile_targets;
mod nonconforming;
mod nonconforming_mqtt;
mod notify_inbox;
mod rerun;
mod seeding;
mod service_faults;
