//! A number a scenario carries to the target (an operation's input, a job document, an
//! expected body member, a wait; in a fleet file a job document, CreateJob's members, the step
//! timeout) goes on the wire as written, or the file is refused: YAML
//! reads an integer beyond 64 bits, or a decimal with more digits than a 64-bit float holds,
//! as the nearest float, and a case would then test a value its author never wrote.
//!
//! Integers YAML read as integers are exact by construction; a float is exact when the text
//! written and the text serde_json sends denote the same decimal. serde_json's
//! `arbitrary_precision` would not help: the YAML reader hands over an `f64`, already rounded,
//! and the feature would change `Number` for the reference and the contract too.

use std::path::Path;

use serde_json::Number;

use super::load::ScenarioError;
use super::spans::Spans;

/// The members of a format whose numbers are sent or compared as written: those under a
/// prefix of `sent` and under none of `except`; `*` is any one member or index. Raw bodies,
/// paths and topics are text and never pass through a number.
#[derive(Debug, Clone, Copy)]
pub struct Carried {
    sent: &'static [&'static [&'static str]],
    except: &'static [&'static [&'static str]],
}

/// A conformance scenario's inputs, job documents, expected bodies and waits.
pub const SCENARIO: Carried = Carried {
    sent: &[
        &["cases", "*", "steps", "*", "start-next"],
        &["cases", "*", "steps", "*", "update"],
        &["cases", "*", "steps", "*", "describe"],
        &["cases", "*", "steps", "*", "get-pending"],
        &["cases", "*", "steps", "*", "expect", "body"],
        &["cases", "*", "steps", "*", "wait", "minutes"],
        &["cases", "*", "jobs", "*", "document"],
    ],
    except: &[],
};

/// A fleet's job documents, its jobs' CreateJob members and in-progress timeout, and the step
/// timeout its devices send; a job's `at-s` is the fleet's own time, never sent.
pub const FLEET: Carried = Carried {
    sent: &[
        &["fleet", "rollout", "document"],
        &["fleet", "rollout", "in-progress-timeout-minutes"],
        &["fleet", "rollout", "jobs", "*"],
        &["fleet", "behaviour", "step-timeout-minutes"],
    ],
    except: &[&["fleet", "rollout", "jobs", "*", "at-s"]],
};

/// A file that sends no number of its own (a thresholds file).
pub const NOTHING: Carried = Carried {
    sent: &[],
    except: &[],
};

impl Carried {
    fn holds(&self, path: &[String]) -> bool {
        let under = |prefix: &&[&str]| {
            path.len() >= prefix.len() && prefix.iter().zip(path).all(|(p, k)| *p == "*" || p == k)
        };
        self.sent.iter().any(under) && !self.except.iter().any(under)
    }
}

/// Every carried number of the YAML `text` read from `file` that would not be sent as
/// written, at `file:line:column`; none when `text` is not YAML (its reader says why).
pub fn refusals(file: &Path, text: &str, carried: Carried) -> Vec<ScenarioError> {
    Spans::read(text)
        .map(|spans| inexact(text, &spans, carried))
        .unwrap_or_default()
        .into_iter()
        .map(|(line, column, message)| ScenarioError {
            file: file.to_path_buf(),
            line,
            column,
            message,
        })
        .collect()
}

/// `(line, column, why)` of every carried number of `text` that would not be sent as written.
fn inexact(text: &str, spans: &Spans, carried: Carried) -> Vec<(u64, u64, String)> {
    let lines: Vec<&str> = text.lines().collect();
    spans
        .numbers()
        .into_iter()
        .filter(|(path, _, _)| carried.holds(path))
        .filter_map(|(_, (line, column), value)| {
            let written = lines
                .get(usize::try_from(line).ok()?.checked_sub(1)?)
                .map(|l| scalar_at(l, column))?;
            why_inexact(written, value).map(|why| (line, column, why))
        })
        .collect()
}

/// The plain scalar starting at 1-based character `column` of `line`.
fn scalar_at(line: &str, column: u64) -> &str {
    let start = line
        .char_indices()
        .nth(usize::try_from(column.saturating_sub(1)).unwrap_or(usize::MAX))
        .map_or(line.len(), |(i, _)| i);
    let rest = &line[start..];
    let end = rest.find([',', ']', '}', '#']).unwrap_or(rest.len());
    rest[..end].trim_end()
}

/// Why `written`, read as `value`, is not what is sent; `None` when it is.
fn why_inexact(written: &str, n: &Number) -> Option<String> {
    if n.is_i64() || n.is_u64() {
        return None;
    }
    let sent = n.to_string();
    let Some(want) = Decimal::parse(written) else {
        return Some(format!(
            "{written} is not a decimal number; it would be sent as {sent}: write the number in decimal"
        ));
    };
    if want.integral_syntax {
        // Written as an integer, read as a float: it is beyond 64 bits, and even a float that
        // holds it exactly goes out in a float's form (`1e+20`), which an integer member need
        // not accept.
        return Some(format!(
            "{written} is outside the 64-bit integer range ({}..{}); it would be sent as {sent}",
            i64::MIN,
            u64::MAX
        ));
    }
    let sent_decimal = Decimal::parse(&sent)?;
    if want.same(&sent_decimal) {
        None
    } else if sent_decimal.digits.is_empty() {
        Some(format!("{written} underflows: it would be sent as {sent}"))
    } else {
        Some(format!(
            "{written} has more digits than a 64-bit float holds; it would be sent as {sent}"
        ))
    }
}

/// A decimal number in canonical form: `0.digits × 10^exponent`, no leading or trailing zero
/// digit (zero has no digits and no sign).
#[derive(Debug)]
struct Decimal {
    negative: bool,
    digits: String,
    exponent: i64,
    /// Written with neither point nor exponent.
    integral_syntax: bool,
}

impl Decimal {
    fn same(&self, other: &Decimal) -> bool {
        self.negative == other.negative
            && self.digits == other.digits
            && self.exponent == other.exponent
    }

    /// `[+-]digits[.digits][(e|E)[+-]digits]`, either digit run of the mantissa may be empty
    /// but not both (YAML's `.5` and `5.`).
    fn parse(text: &str) -> Option<Decimal> {
        let (negative, body) = match text.as_bytes().first()? {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let (mantissa, exp) = match body.find(['e', 'E']) {
            Some(i) => (&body[..i], Some(&body[i + 1..])),
            None => (body, None),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty() && frac.is_empty() || !all_digits(int) || !all_digits(frac) {
            return None;
        }
        let exp: i64 = match exp {
            None => 0,
            Some(e) => {
                let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
                if digits.is_empty() || !all_digits(digits) {
                    return None;
                }
                // Beyond 18 digits the exponent is saturated: no such number is a finite
                // non-zero float, so the comparison still fails as it should.
                let magnitude: i64 = digits.parse().unwrap_or(i64::MAX / 4);
                if e.starts_with('-') {
                    -magnitude
                } else {
                    magnitude
                }
            }
        };
        let all = format!("{int}{frac}");
        let lead = all.len() - all.trim_start_matches('0').len();
        let digits = all.trim_matches('0').to_string();
        let exponent = if digits.is_empty() {
            0
        } else {
            i64::try_from(int.len()).ok()? - i64::try_from(lead).ok()? + exp
        };
        Some(Decimal {
            negative: negative && !digits.is_empty(),
            digits,
            exponent,
            integral_syntax: !body.contains(['.', 'e', 'E']),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn step(member: &str, value: &str) -> String {
        format!(
            "cases:\n  - name: c\n    steps:\n      - update: {{ thing: t, {member}: {value} }}\n"
        )
    }

    fn refusals(text: &str) -> Vec<(u64, u64, String)> {
        inexact(text, &Spans::read(text).expect("YAML"), SCENARIO)
    }

    #[rstest]
    #[case::below_i64(
        "stepTimeoutInMinutes",
        "-9223372036854775809",
        Some("outside the 64-bit integer range")
    )]
    #[case::beyond_u64(
        "expectedVersion",
        "18446744073709551616",
        Some("outside the 64-bit integer range")
    )]
    #[case::beyond_u64_yet_a_float(
        "expectedVersion",
        "100000000000000000000",
        Some("outside the 64-bit integer range")
    )]
    #[case::underflow(
        "stepTimeoutInMinutes",
        "1e-999999",
        Some("underflows: it would be sent as 0.0")
    )]
    #[case::too_many_digits(
        "statusDetails",
        "{ k: 0.10000000000000000001 }",
        Some("more digits than a 64-bit float holds")
    )]
    #[case::i64_max("expectedVersion", "9223372036854775807", None)]
    #[case::u64_max("expectedVersion", "18446744073709551615", None)]
    #[case::minus_one("stepTimeoutInMinutes", "-1", None)]
    #[case::half("stepTimeoutInMinutes", "0.5", None)]
    #[case::tenth("stepTimeoutInMinutes", "0.1", None)]
    #[case::integral_float("stepTimeoutInMinutes", "5.0", None)]
    #[case::exponent("stepTimeoutInMinutes", "1e3", None)]
    #[case::negative_zero("stepTimeoutInMinutes", "-0.0", None)]
    #[case::comment_after("expectedVersion", "2 ", None)]
    fn carried_numbers_are_sent_as_written(
        #[case] member: &str,
        #[case] value: &str,
        #[case] refused: Option<&str>,
    ) {
        let found = refusals(&step(member, value));
        match refused {
            None => assert_eq!(found, vec![], "{value}"),
            Some(why) => {
                assert_eq!(found.len(), 1, "{value}: {found:?}");
                let (line, column, message) = &found[0];
                assert_eq!(*line, 4);
                assert!(*column > 30, "{column}");
                assert!(message.contains(why), "{value}: {message}");
            }
        }
    }

    #[test]
    fn text_members_are_not_numbers() {
        let text = "cases:\n  - name: 1e-999999\n    steps:\n      - update: { thing: t }\n        raw-body: 1e-999999\n        deadline-ms: 100\n";
        assert_eq!(refusals(text), vec![]);
    }

    #[rstest]
    #[case::plain_number("1.00000000000000000001", "1.00000000000000000001")]
    #[case::beyond_u64("18446744073709551616", "18446744073709551616")]
    #[case::quoted_json("'{\"v\": 1e-999999}'", "{\"v\": 1e-999999}")]
    fn raw_bodies_stay_byte_exact(#[case] written: &str, #[case] sent: &str) {
        let text = format!("update: {{ thing: t }}\nraw-body: {written}\n");
        let step: crate::scenario::model::StepSpec = serde_saphyr::from_str(&text).expect("step");
        assert_eq!(step.raw_body.as_deref(), Some(sent));
    }

    #[test]
    fn loading_names_the_file_line_and_column() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("s.yaml");
        std::fs::write(&file, step("expectedVersion", "18446744073709551616")).expect("write");
        let errors = crate::scenario::load_file(&file).expect_err("refused");
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            vec![format!(
                "{}:4:46: 18446744073709551616 is outside the 64-bit integer range \
                 (-9223372036854775808..18446744073709551615); it would be sent as 1.8446744073709552e+19",
                file.display()
            )]
        );
    }

    #[test]
    fn numbers_in_documents_bodies_and_waits_are_checked() {
        let text = "cases:\n  - name: c\n    jobs:\n      - id: j\n        targets: [t]\n        document: { n: 1e-999999 }\n    steps:\n      - wait: { minutes: 1e-999999 }\n      - describe: { thing: t }\n        expect:\n          body:\n            execution.versionNumber: 18446744073709551616\n";
        let lines: Vec<u64> = refusals(text).iter().map(|(l, _, _)| *l).collect();
        assert_eq!(lines, vec![6, 8, 12]);
    }
}
