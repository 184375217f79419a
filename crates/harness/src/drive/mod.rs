//! Drivers execute a plan against a target: the conformance runner, the fleet driver, the
//! replayer of captures, and the recording proxy that stands between a target and its clients.

pub mod conformance;
pub mod due;
pub mod fleet;
pub mod proxy;
pub mod refusal;
pub mod replay;

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

/// CPU time (user and system) this whole process has used, in ms; `None` off Linux.
fn process_cpu_ms() -> Option<u64> {
    cpu_ms_of(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// The kernel's unit of the times in `/proc/*/stat` (USER_HZ, fixed for that file's ABI).
const USER_HZ: u64 = 100;

/// `utime + stime` of a `/proc/*/stat` line, in ms. The command name may hold spaces and
/// parentheses, so the fields are counted from its last `)`.
fn cpu_ms_of(stat: &str) -> Option<u64> {
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    // The state is field 3, the first after the name; utime and stime are fields 14 and 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) * 1000 / USER_HZ)
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    #[rstest]
    #[case("4242 (jobcert) S 1 2 3 4 5 6 7 8 9 10 150 25 0 0 20", Some(1750))]
    #[case("7 (a b) (c)) R 1 2 3 4 5 6 7 8 9 10 3 4 0 0 20", Some(70))]
    #[case("7 (jobcert) R 1 2", None)]
    #[case("no name at all", None)]
    fn cpu_time_is_utime_plus_stime(#[case] stat: &str, #[case] ms: Option<u64>) {
        assert_eq!(super::cpu_ms_of(stat), ms);
    }
}
