//! Drivers execute a plan against a target: the conformance runner, the fleet driver, the
//! replayer of captures, and the recording proxy that stands between a target and its clients.

pub mod conformance;
pub mod due;
pub mod fleet;
pub mod proxy;
pub mod replay;
pub mod signature;

/// Resident memory of this process: (now, peak), in KiB; `None` off Linux.
fn resident_memory() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}
