//! The fleet simulator: scenario files, runs, shards and their merge, and the interval log.

mod agents;
mod descriptors;
mod hlog_tools;
mod rollout;
mod runs;
mod scenarios;
mod shards;
