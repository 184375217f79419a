//! `latency.hlog`: the per-interval histograms as an HdrHistogram interval log, the format
//! `HistogramLogProcessor` and the standard plotters read. One entry per interval and histogram,
//! tagged `<operation>.<outcome>`, timestamped in seconds since the run's start.

use std::io;
use std::time::{Duration, SystemTime};

use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};

use super::key_name;
use crate::record::{FleetRecord, Interval};

/// Values are microseconds; the interval maximum is printed in milliseconds.
const MAX_VALUE_DIVISOR: f64 = 1000.0;

/// The interval log of `record`.
pub(super) fn log(record: &FleetRecord) -> io::Result<Vec<u8>> {
    let start = SystemTime::UNIX_EPOCH + Duration::from_millis(record.started_at_ms);
    let mut intervals: Vec<&Interval> = record.intervals.iter().collect();
    intervals.sort_by_key(|i| i.start_ms);
    let mut out = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    let mut writer = IntervalLogWriterBuilder::new()
        .add_comment(&format!(
            "jobcert fleet run {} of scenario {}: latency in microseconds from the intended \
             send time; interval max in milliseconds",
            record.run_id, record.scenario
        ))
        .with_start_time(start)
        .with_base_time(start)
        .with_max_value_divisor(MAX_VALUE_DIVISOR)
        .begin_log_with(&mut out, &mut serializer)?;
    for interval in intervals {
        let offset = Duration::from_millis(interval.start_ms.saturating_sub(record.started_at_ms));
        let length = Duration::from_millis(interval.length_ms);
        for (key, h) in interval.latency.histograms() {
            let tag = key_name(key);
            writer
                .write_histogram(h, offset, length, Tag::new(&tag))
                .map_err(|e| io::Error::other(e.to_string()))?;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as BASE64;
    use hdrhistogram::Histogram;
    use hdrhistogram::serialization::Deserializer;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

    use super::super::fixture;
    use super::*;

    #[test]
    fn intervals_add_up_to_the_whole_run() {
        let (record, _) = fixture::sample();
        let log = log(&record).unwrap();
        let text = String::from_utf8(log.clone()).unwrap();
        assert!(text.starts_with(
            "#jobcert fleet run f-1a2b of scenario smoke & soak: latency in microseconds"
        ));
        assert!(text.contains("#[StartTime: 1700000000.000 (seconds since epoch)]"));

        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        let mut entries = 0;
        for entry in IntervalLogIterator::new(&log) {
            let LogEntry::Interval(ilh) = entry.unwrap() else {
                continue;
            };
            entries += 1;
            assert!(ilh.start_timestamp() < Duration::from_secs(3));
            assert_eq!(ilh.duration(), Duration::from_secs(1));
            let bytes = BASE64.decode(ilh.encoded_histogram()).unwrap();
            let h: Histogram<u64> = Deserializer::new()
                .deserialize(&mut bytes.as_slice())
                .unwrap();
            assert!((ilh.max() - h.max() as f64 / 1000.0).abs() < 0.001);
            *counts
                .entry(ilh.tag().unwrap().as_str().to_string())
                .or_default() += h.len();
        }
        let per_interval: usize = record
            .intervals
            .iter()
            .map(|i| i.latency.histograms().count())
            .sum();
        assert_eq!(entries, per_interval);
        let whole: BTreeMap<String, u64> = record
            .latency
            .histograms()
            .map(|(k, h)| (format!("{}.{}", k.operation, k.outcome), h.len()))
            .collect();
        assert_eq!(counts, whole);
        assert_eq!(counts["UpdateJobExecution.timeout"], 2);
    }
}
