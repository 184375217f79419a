//! The process's limit on open descriptors (RLIMIT_NOFILE). Most Linux machines start a
//! process with a soft limit of 1,024 under a much higher hard one, and every connection a
//! device holds, or a server accepts, is a descriptor: the long-running commands raise the soft
//! limit to the hard one, count what their run needs (`fleet`, `run`, `replay`, `diff` and
//! `capture proxy`, each from what it knows before it connects), and refuse up front a run that
//! even the hard limit cannot hold, rather than failing connections part-way.

use anyhow::bail;
use jobcert_contract::Binding;
use jobcert_harness::record::Shard;
use jobcert_harness::scenario::fleet::{Connections, FleetSpec, FleetTransport};

/// Descriptors a process needs beyond its connections: the listeners, the runtime's own,
/// standard streams, the files it reads and writes, and the control plane's connections (the
/// seeding calls run at most some dozens at a time).
const MARGIN: u64 = 256;

/// The limit in force: the soft one, which `open` and `accept` meet, and the hard one, as high
/// as an unprivileged process may raise its soft limit. `u64::MAX` is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub soft: u64,
    pub hard: u64,
}

/// What one process of a run needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    /// The process, for the message: `jobcert fleet`, its reference server.
    pub process: &'static str,
    pub descriptors: u64,
}

impl Need {
    /// A process holding `connections` at once, and the [`MARGIN`].
    fn holding(process: &'static str, connections: u64) -> Self {
        Self {
            process,
            descriptors: connections.saturating_add(MARGIN),
        }
    }
}

/// Raises the soft limit to the hard one and returns the limit then in force; `None` where
/// there is no such limit (not Unix) or it cannot be read. A child started afterwards (the
/// reference `fleet`, `replay` and `diff` start) inherits the raised limit.
pub fn raise() -> Option<Limit> {
    let limit = imp::raise();
    match limit {
        Some(l) => tracing::debug!(soft = l.soft, hard = l.hard, "open-descriptor limit"),
        None => tracing::debug!("no open-descriptor limit known"),
    }
    limit
}

/// What a fleet run of `spec`'s `shard` needs: each connection the devices hold, once in this
/// process and, when it starts its own reference server (`own_reference`), once more there.
pub fn fleet_needs(spec: &FleetSpec, shard: Shard, own_reference: bool) -> Vec<Need> {
    let devices = shard_devices(spec.things.count, spec.things.block(), shard);
    let connections = match (spec.transport, spec.http.connections) {
        (FleetTransport::Mqtt, _) | (FleetTransport::Http, Connections::PerDevice) => devices,
        (FleetTransport::Http, Connections::Pool) => devices.min(spec.http.pool as u64),
    };
    let mut needs = vec![Need::holding("jobcert fleet", connections)];
    if own_reference {
        needs.push(Need::holding("its reference server", connections));
    }
    needs
}

/// What a conformance run needs: `concurrency` cases side by side, each holding `per_case`
/// connections (see [`case_connections`]). The embedded reference runs in this process, so
/// with it (`embedded`) each connection is counted at both ends.
pub fn run_needs(concurrency: usize, per_case: u64, embedded: bool) -> Vec<Need> {
    let client = (concurrency as u64).saturating_mul(per_case);
    let ends = if embedded { 2 } else { 1 };
    vec![Need::holding("jobcert run", client.saturating_mul(ends))]
}

/// The connections one case holds at most over `binding`: over MQTT one per thing it names;
/// over HTTP one from the pool, its steps being one after another; and one to the control
/// plane.
pub fn case_connections(binding: Binding, things_per_case: usize) -> u64 {
    let data = match binding {
        Binding::Http => 1,
        Binding::Mqtt => things_per_case as u64,
    };
    data + 1
}

/// What playing a capture's `devices` needs: a connection per device to each of `targets`
/// data planes in this process (`replay` one target; `diff` a primary, a candidate and perhaps
/// a secondary), and the same devices in each reference server it starts (`references`).
pub fn replay_needs(
    process: &'static str,
    devices: u64,
    targets: u64,
    references: u64,
) -> Vec<Need> {
    let mut needs = vec![Need::holding(process, devices.saturating_mul(targets))];
    if references > 0 {
        needs.push(Need::holding("its reference servers", devices));
    }
    needs
}

/// What a recording proxy needs: its `listeners`, and two descriptors for each of the
/// `connections` it is told to expect at once (the client's, and its own to the target).
pub fn proxy_needs(listeners: u64, connections: u64) -> Vec<Need> {
    vec![Need::holding(
        "jobcert capture proxy",
        listeners.saturating_add(connections.saturating_mul(2)),
    )]
}

/// Things in `shard` of `count` things made into blocks of `block`.
fn shard_devices(count: u64, block: u64, shard: Shard) -> u64 {
    (0..count.div_ceil(block))
        .filter(|&b| shard.owns(b))
        .map(|b| block.min(count - b * block))
        .sum()
}

/// Raises the limit and fails, naming the number and the fix, when a process of `needs` would
/// not fit under it.
pub fn ensure(needs: &[Need]) -> anyhow::Result<()> {
    match imp::raise() {
        Some(limit) => match refusal(needs, limit) {
            Some(message) => bail!(message),
            None => Ok(()),
        },
        None => Ok(()),
    }
}

/// Why `needs` cannot run under `limit`, or `None` when they can. Each process has a limit of
/// its own, but the reference child inherits this one, so the largest need decides.
fn refusal(needs: &[Need], limit: Limit) -> Option<String> {
    let n = needs.iter().map(|need| need.descriptors).max()?;
    let each = needs
        .iter()
        .map(|need| format!("{} {}", need.process, need.descriptors))
        .collect::<Vec<_>>()
        .join(", ");
    (n > limit.soft).then(|| {
        format!(
            "this run needs {n} open descriptors ({each}: one per connection, and some more), \
             but the limit is {} (hard limit {}): raise it to at least {n} with \
             `ulimit -Hn {n}; ulimit -n {n}` (as root, or in /etc/security/limits.conf), or \
             `LimitNOFILE={n}` in a systemd unit, then run again",
            shown(limit.soft),
            shown(limit.hard)
        )
    })
}

fn shown(limit: u64) -> String {
    match limit {
        u64::MAX => "unlimited".to_string(),
        n => n.to_string(),
    }
}

#[cfg(unix)]
mod imp {
    use super::Limit;

    pub(super) fn raise() -> Option<Limit> {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes the limit into the struct it is given, nothing else.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            // SAFETY: setrlimit only reads the struct. Refused (macOS refuses an unlimited soft
            // limit), the soft limit stays as it was.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
                limit = raised;
            }
        }
        Some(Limit {
            soft: number(limit.rlim_cur),
            hard: number(limit.rlim_max),
        })
    }

    #[allow(
        clippy::useless_conversion,
        reason = "rlim_t is u64 on Linux, but not on every Unix"
    )]
    fn number(limit: libc::rlim_t) -> u64 {
        if limit == libc::RLIM_INFINITY {
            u64::MAX
        } else {
            u64::try_from(limit).unwrap_or(u64::MAX)
        }
    }
}

#[cfg(not(unix))]
mod imp {
    pub(super) fn raise() -> Option<super::Limit> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jobcert_harness::scenario::fleet::load_fleet_with;

    const SCENARIO: &str = "\
fleet:
  name: needs
  seed: 1
  things: { count: 10, per-job: 4 }
  transport: http
  rollout: { jobs-per-thing: 1, rate: 100, start: before }
  behaviour:
    work: { lognormal: { median: 3, sigma: 0.5 } }
    outcomes: { SUCCEEDED: 1.0 }
  load: { model: closed }
  run: { until: drained, max-duration-s: 10 }
";

    fn spec(edit: impl FnOnce(&mut FleetSpec)) -> FleetSpec {
        let dir = tempfile::tempdir().expect("scratch folder");
        let path = dir.path().join("needs.yaml");
        std::fs::write(&path, SCENARIO).expect("scenario file");
        load_fleet_with(&path, edit).expect("a valid scenario")
    }

    fn shard(text: &str) -> Shard {
        Shard::parse(text).expect("a shard")
    }

    #[test]
    fn a_shard_holds_its_blocks_things() {
        // 10 things in blocks of 4: 4, 4, 2.
        for (count, block, s, devices) in [
            (10, 4, "0/1", 10),
            (10, 4, "0/2", 6),
            (10, 4, "1/2", 4),
            (10, 4, "2/3", 2),
            (10, 4, "0/5", 4),
            (10, 4, "3/5", 0),
            (0, 1, "0/1", 0),
        ] {
            assert_eq!(
                shard_devices(count, block, shard(s)),
                devices,
                "{count} things, blocks of {block}, shard {s}"
            );
        }
    }

    #[test]
    fn each_process_needs_a_descriptor_per_connection_and_a_margin() {
        let mqtt = |s: &mut FleetSpec| {
            s.transport = FleetTransport::Mqtt;
            s.things.count = 600;
        };
        let pool = |pool: usize| {
            move |s: &mut FleetSpec| {
                s.http.connections = Connections::Pool;
                s.http.pool = pool;
                s.things.count = 600;
            }
        };
        let cases: [(FleetSpec, &str, bool, Vec<u64>); 6] = [
            (spec(mqtt), "0/1", true, vec![856, 856]),
            (spec(mqtt), "0/1", false, vec![856]),
            (spec(|s| s.things.count = 600), "0/1", true, vec![856, 856]),
            (spec(pool(64)), "0/1", true, vec![320, 320]),
            (spec(pool(5000)), "0/1", false, vec![856]),
            (spec(|_| {}), "1/2", false, vec![4 + MARGIN]),
        ];
        for (spec, s, own, expected) in cases {
            let needs: Vec<u64> = fleet_needs(&spec, shard(s), own)
                .iter()
                .map(|n| n.descriptors)
                .collect();
            assert_eq!(
                needs, expected,
                "{:?} shard {s}, own reference {own}",
                spec.transport
            );
        }
    }

    #[test]
    fn the_other_commands_count_their_connections_and_a_margin() {
        let m = MARGIN;
        let cases: [(&str, Vec<Need>, Vec<u64>); 8] = [
            // 8 cases of 3 connections each (2 things over MQTT and the control plane), both
            // ends in-process with the embedded reference.
            ("run embedded", run_needs(8, 3, true), vec![48 + m]),
            ("run against a target", run_needs(8, 3, false), vec![24 + m]),
            ("run of no case", run_needs(8, 0, false), vec![m]),
            (
                "replay on its reference",
                replay_needs("r", 600, 1, 1),
                vec![600 + m, 600 + m],
            ),
            (
                "replay on a target",
                replay_needs("r", 600, 1, 0),
                vec![600 + m],
            ),
            (
                "diff of two references",
                replay_needs("d", 600, 2, 2),
                vec![1200 + m, 600 + m],
            ),
            ("proxy of three planes", proxy_needs(3, 256), vec![515 + m]),
            ("proxy of no connection", proxy_needs(1, 0), vec![1 + m]),
        ];
        for (what, needs, expected) in cases {
            let got: Vec<u64> = needs.iter().map(|n| n.descriptors).collect();
            assert_eq!(got, expected, "{what}");
        }
    }

    #[test]
    fn a_case_holds_a_connection_per_thing_over_mqtt_and_one_over_http() {
        for (binding, things, connections) in [
            (Binding::Mqtt, 3, 4),
            (Binding::Mqtt, 0, 1),
            (Binding::Http, 3, 2),
            (Binding::Http, 0, 2),
        ] {
            assert_eq!(
                case_connections(binding, things),
                connections,
                "{binding:?} {things}"
            );
        }
    }

    #[test]
    fn a_run_is_refused_only_when_its_largest_need_exceeds_the_limit() {
        let needs = [
            Need {
                process: "jobcert fleet",
                descriptors: 500,
            },
            Need {
                process: "its reference server",
                descriptors: 856,
            },
        ];
        let limit = |soft, hard| Limit { soft, hard };
        for (limit, refused) in [
            (limit(856, 856), false),
            (limit(4096, 4096), false),
            (limit(u64::MAX, u64::MAX), false),
            (limit(855, 855), true),
            (limit(256, 256), true),
        ] {
            let message = refusal(&needs, limit);
            assert_eq!(message.is_some(), refused, "{limit:?}");
            if let Some(m) = message {
                for part in [
                    "needs 856",
                    "jobcert fleet 500, its reference server 856",
                    "ulimit -Hn 856",
                    "LimitNOFILE=856",
                ] {
                    assert!(m.contains(part), "{part:?} in {m}");
                }
                assert!(m.contains(&format!("limit is {}", limit.soft)), "{m}");
            }
        }
        assert_eq!(refusal(&[], limit(1, 1)), None);
    }
}
