//! What counts as an integer in a request: the one reading the harness's model and the
//! reference share. The service model types the numeric members `long` and `integer`, and the
//! schemas of `schemas/` say `"type": "integer"`, which JSON Schema draft 2020-12 meets with any
//! number whose fractional part is zero; so `5.0` is the integer 5 (README, "Behaviour where
//! the documentation leaves room").

use serde_json::Number;

/// `n` as a 64-bit integer when it is one by JSON Schema's reading (`5` or `5.0`); `None` for a
/// fraction, a whole number beyond the signed 64-bit range, or a float of 2^53 or more in size:
/// there floats no longer hold every integer, so the number written may not be the one read
/// (`-9223372036854775809` reads as the float -2^63).
pub fn whole_number(n: &Number) -> Option<i64> {
    /// 2^53: from here on a float may be a rounded integer.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    n.as_i64().or_else(|| {
        let f = n.as_f64().filter(|_| !n.is_u64())?;
        (f.fract() == 0.0 && f.abs() < EXACT).then_some(f as i64)
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
    #[case::below_two_to_the_53(json!(-9_007_199_254_740_991.0), Some(-9_007_199_254_740_991))]
    #[case::two_to_the_53_as_float(json!(9_007_199_254_740_992.0), None)]
    #[case::i64_min_as_float(json!(-9_223_372_036_854_775_808.0), None)]
    #[case::two_to_the_63_as_float(json!(9_223_372_036_854_775_808.0), None)]
    #[case::beyond_i64(json!(u64::MAX), None)]
    fn whole_numbers_are_integers(#[case] value: serde_json::Value, #[case] want: Option<i64>) {
        let serde_json::Value::Number(n) = value else {
            panic!("a number");
        };
        assert_eq!(whole_number(&n), want);
    }
}
