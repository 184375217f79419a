//! What counts as an integer in a request: the one reading the harness's model and the
//! reference share. The service model types the numeric members `long` and `integer`, and the
//! schemas of `schemas/` say `"type": "integer"`, which JSON Schema draft 2020-12 meets with any
//! number whose fractional part is zero; so `5.0` is the integer 5 (README, "Behaviour where
//! the documentation leaves room").

use serde_json::Number;

/// `n` as a 64-bit integer when it is one by JSON Schema's reading (`5` or `5.0`); `None` for a
/// fraction, or a whole number beyond the signed 64-bit range.
pub fn whole_number(n: &Number) -> Option<i64> {
    /// 2^63: the first whole float beyond `i64`.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    n.as_i64().or_else(|| {
        let f = n.as_f64().filter(|_| !n.is_u64())?;
        // `f < LIMIT` with `-f <= LIMIT` keeps -2^63 (an i64) and refuses 2^63 (not one).
        (f.fract() == 0.0 && f < LIMIT && -f <= LIMIT).then_some(f as i64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use serde_json::json;

    #[rstest]
    #[case::integer(json!(5), Some(5))]
    #[case::integral_float(json!(5.0), Some(5))]
    #[case::negative_integral_float(json!(-1.0), Some(-1))]
    #[case::fraction(json!(2.5), None)]
    #[case::i64_min_as_float(json!(-9_223_372_036_854_775_808.0), Some(i64::MIN))]
    #[case::two_to_the_63_as_float(json!(9_223_372_036_854_775_808.0), None)]
    #[case::beyond_i64(json!(u64::MAX), None)]
    fn whole_numbers_are_integers(#[case] value: serde_json::Value, #[case] want: Option<i64>) {
        let serde_json::Value::Number(n) = value else {
            panic!("a number");
        };
        assert_eq!(whole_number(&n), want);
    }
}
