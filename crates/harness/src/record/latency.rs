//! Latency histograms (HdrHistogram, microseconds) per operation and outcome.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

use crate::transport::{Exchange, Outcome};

/// Highest latency recorded exactly, in microseconds (one hour); longer ones saturate.
const MAX_US: u64 = 3_600_000_000;
/// Significant decimal digits kept.
const PRECISION: u8 = 3;

/// What a histogram is of: one operation, one kind of outcome.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LatencyKey {
    /// The model's operation name.
    pub operation: String,
    /// `answered`, `timeout` or `failed`.
    pub outcome: String,
}

/// Histograms by key; every process uses the same bounds, so books merge exactly.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LatencyBook {
    histograms: BTreeMap<LatencyKey, Histogram<u64>>,
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, PRECISION).expect("valid histogram bounds")
}

impl LatencyBook {
    /// Records an exchange's latency (from its intended send time).
    pub fn record(&mut self, exchange: &Exchange) {
        self.record_value(
            &exchange.operation,
            outcome_name(&exchange.outcome),
            exchange.timing.latency_us(),
        );
    }

    /// Records one latency of `operation` ending in `outcome`.
    pub fn record_value(&mut self, operation: &str, outcome: &str, latency_us: u64) {
        let value = latency_us.clamp(1, MAX_US);
        match self
            .histograms
            .iter_mut()
            .find(|(k, _)| k.operation == operation && k.outcome == outcome)
        {
            Some((_, h)) => h.saturating_record(value),
            None => {
                let mut h = new_histogram();
                h.saturating_record(value);
                self.histograms.insert(
                    LatencyKey {
                        operation: operation.to_string(),
                        outcome: outcome.to_string(),
                    },
                    h,
                );
            }
        }
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.histograms.values().all(|h| h.is_empty())
    }

    /// Every histogram whose key `keep` accepts, added into one.
    pub fn combined(&self, keep: impl Fn(&LatencyKey) -> bool) -> Histogram<u64> {
        let mut sum = new_histogram();
        for (_, h) in self.histograms.iter().filter(|(k, _)| keep(k)) {
            sum.add(h).expect("histograms share their bounds");
        }
        sum
    }

    /// Adds every histogram of `other` to this book.
    pub fn merge(&mut self, other: &LatencyBook) {
        for (key, h) in &other.histograms {
            let mine = self
                .histograms
                .entry(key.clone())
                .or_insert_with(new_histogram);
            mine.add(h).expect("histograms share their bounds");
        }
    }

    /// The histograms, by key.
    pub fn histograms(&self) -> impl Iterator<Item = (&LatencyKey, &Histogram<u64>)> {
        self.histograms.iter()
    }

    /// Each histogram serialised (V2 + DEFLATE, base64), the form that merges across processes.
    pub fn encoded(&self) -> Vec<(LatencyKey, String)> {
        self.histograms
            .iter()
            .map(|(k, h)| {
                let mut bytes = Vec::new();
                V2DeflateSerializer::new()
                    .serialize(h, &mut bytes)
                    .expect("serialising into memory");
                (k.clone(), BASE64.encode(&bytes))
            })
            .collect()
    }

    /// Reads histograms written by [`LatencyBook::encoded`].
    pub fn decode(entries: &[(LatencyKey, String)]) -> Result<Self, String> {
        let mut book = Self::default();
        for (key, text) in entries {
            let bytes = BASE64
                .decode(text)
                .map_err(|e| format!("histogram {}/{}: {e}", key.operation, key.outcome))?;
            let h: Histogram<u64> = Deserializer::new()
                .deserialize(&mut bytes.as_slice())
                .map_err(|e| format!("histogram {}/{}: {e:?}", key.operation, key.outcome))?;
            book.histograms
                .entry(key.clone())
                .or_insert_with(new_histogram)
                .add(&h)
                .map_err(|e| e.to_string())?;
        }
        Ok(book)
    }
}

/// The outcome name a histogram is filed under: `answered`, `timeout` or `failed`.
pub fn outcome_name(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Answered(_) => "answered",
        Outcome::Timeout { .. } => "timeout",
        Outcome::Failed { .. } => "failed",
    }
}

/// One histogram as stored in `summary.json`.
#[derive(Serialize, Deserialize)]
struct EncodedHistogram {
    operation: String,
    outcome: String,
    /// V2 + DEFLATE, base64: the form HdrHistogram tools read.
    histogram: String,
}

impl Serialize for LatencyBook {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(
            self.encoded()
                .into_iter()
                .map(|(k, histogram)| EncodedHistogram {
                    operation: k.operation,
                    outcome: k.outcome,
                    histogram,
                }),
        )
    }
}

impl<'de> Deserialize<'de> for LatencyBook {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let entries = Vec::<EncodedHistogram>::deserialize(deserializer)?;
        let pairs: Vec<(LatencyKey, String)> = entries
            .into_iter()
            .map(|e| {
                (
                    LatencyKey {
                        operation: e.operation,
                        outcome: e.outcome,
                    },
                    e.histogram,
                )
            })
            .collect();
        Self::decode(&pairs).map_err(serde::de::Error::custom)
    }
}

/// The percentile distribution of `h` in the `.hgrm` text format of HdrHistogram's
/// `outputPercentileDistribution`, with values in milliseconds.
pub fn hgrm(h: &Histogram<u64>) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    for v in h.iter_quantiles(5) {
        let p = v.quantile_iterated_to();
        let value = v.value_iterated_to() as f64 / 1000.0;
        if p < 1.0 {
            let _ = writeln!(
                out,
                "{value:12.3} {p:14.12} {:10} {:14.2}",
                v.count_since_last_iteration(),
                1.0 / (1.0 - p)
            );
        } else {
            let _ = writeln!(
                out,
                "{value:12.3} {p:14.12} {:10}",
                v.count_since_last_iteration()
            );
        }
    }
    let _ = writeln!(
        out,
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]\n#[Max     = {:12.3}, Total count    = {:12}]\n#[Buckets = {:12}, SubBuckets     = {:12}]",
        h.mean() / 1000.0,
        h.stdev() / 1000.0,
        h.max() as f64 / 1000.0,
        h.len(),
        h.buckets(),
        h.distinct_values()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::{Timing, WireRequest};

    fn exchange(latency_us: u64) -> Exchange {
        Exchange {
            seq: 0,
            context: "t".into(),
            operation: "StartNextPendingJobExecution".into(),
            request: WireRequest {
                transport: "http".into(),
                method: "PUT".into(),
                endpoint: "http://x".into(),
                target: "/".into(),
                headers: vec![],
                body: None,
            },
            outcome: Outcome::Timeout { deadline_ms: 1 },
            timing: Timing {
                intended_us: 10,
                sent_us: 10,
                done_us: 10 + latency_us,
            },
        }
    }

    #[test]
    fn encoded_books_decode_and_merge_exactly() {
        let (mut a, mut b) = (LatencyBook::default(), LatencyBook::default());
        for v in [100, 2_000, 35_000] {
            a.record(&exchange(v));
        }
        b.record(&exchange(7));
        let mut merged = LatencyBook::decode(&a.encoded()).unwrap();
        merged.merge(&LatencyBook::decode(&b.encoded()).unwrap());
        let (_, h) = merged.histograms().next().unwrap();
        assert_eq!(h.len(), 4);
        assert_eq!(h.max(), h.highest_equivalent(35_000));
        assert_eq!(h.min(), 7);
    }

    #[test]
    fn hgrm_has_the_standard_columns() {
        let mut book = LatencyBook::default();
        book.record(&exchange(1500));
        let text = hgrm(book.histograms().next().unwrap().1);
        assert!(text.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)"));
        assert!(text.contains("#[Mean    ="));
    }
}
