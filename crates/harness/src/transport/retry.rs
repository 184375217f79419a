//! Retrying throttled requests as the AWS SDKs' standard retry mode does: three attempts in
//! all, and before each retry a wait drawn uniformly from zero to base·2^(retry−1), capped
//! ("full jitter"). A target that throttles is keeping its quota, not breaking the contract,
//! so a conformance run waits and asks again instead of failing it.

use std::time::Duration;

use jobcert_contract::{ErrorKind, errors};
use serde_json::Value;

use super::{Exchange, Outcome};

/// How throttled requests are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The ceiling of the first retry's wait; it doubles with each retry.
    pub base: Duration,
    /// No wait is longer.
    pub cap: Duration,
}

impl Retry {
    /// The SDKs' standard mode: 3 attempts, 100 ms base, 20 s cap.
    pub const STANDARD: Self = Self {
        max_attempts: 3,
        base: Duration::from_millis(100),
        cap: Duration::from_secs(20),
    };

    /// The longest wait before retry number `retry` (1 for the first): base·2^(retry−1), capped.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let doublings = retry.saturating_sub(1).min(31);
        self.base
            .checked_mul(1 << doublings)
            .map_or(self.cap, |d| d.min(self.cap))
    }

    /// The wait before retry `retry` for a uniform draw `unit` in [0, 1): full jitter.
    pub fn delay(&self, retry: u32, unit: f64) -> Duration {
        self.ceiling(retry).mul_f64(unit.clamp(0.0, 1.0))
    }

    /// The waits before each retry, for uniform draws `units`: one fewer than the attempts.
    pub fn waits(&self, units: impl IntoIterator<Item = f64>) -> Vec<Duration> {
        (1..self.max_attempts)
            .zip(units)
            .map(|(retry, unit)| self.delay(retry, unit))
            .collect()
    }
}

/// Whether the target answered `exchange` by throttling it: HTTP 429, an error typed
/// ThrottlingException (AWS also sends it as 400), or an MQTT rejection with its code.
pub fn is_throttle(exchange: &Exchange) -> bool {
    let Outcome::Answered(response) = &exchange.outcome else {
        return false;
    };
    let throttling = ErrorKind::Throttling.type_name();
    if exchange.request.transport == "mqtt" {
        let code = errors()
            .data_plane(throttling)
            .and_then(|row| row.mqtt_code.as_deref());
        let body = serde_json::from_str::<Value>(&response.body).ok();
        return code.is_some() && body.as_ref().and_then(|b| b["code"].as_str()) == code;
    }
    if response.status == 429 {
        return true;
    }
    if (200..300).contains(&response.status) {
        return false;
    }
    // Named as the SDKs read it: `x-amzn-ErrorType`, else the body's code or `__type`, with a
    // namespace (`…#`) and a suffix (`:…`) dropped.
    let body = serde_json::from_str::<Value>(&response.body).ok();
    let named = response
        .header("x-amzn-errortype")
        .map(str::to_string)
        .or_else(|| {
            ["code", "Code", "__type"]
                .iter()
                .find_map(|k| body.as_ref()?.get(k)?.as_str().map(str::to_string))
        });
    named.is_some_and(|n| {
        let before_colon = n.split(':').next().unwrap_or_default();
        before_colon.rsplit('#').next() == Some(throttling)
    })
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;
    use crate::transport::{Label, WireRequest, WireResponse};

    #[rstest]
    #[case(1, 0.0, 0)]
    #[case(1, 0.5, 50)]
    #[case(1, 0.999, 99)]
    #[case(2, 0.999, 199)]
    #[case(3, 0.5, 200)]
    #[case(9, 0.999, 19_980)]
    #[case(40, 1.0, 20_000)]
    #[case(1, 7.0, 100)]
    fn waits_are_full_jitter_below_a_doubling_capped_ceiling(
        #[case] retry: u32,
        #[case] unit: f64,
        #[case] millis: u128,
    ) {
        let wait = Retry::STANDARD.delay(retry, unit);
        assert_eq!(wait.as_millis(), millis);
        assert!(wait <= Retry::STANDARD.ceiling(retry));
        assert!(wait <= Retry::STANDARD.cap);
    }

    #[test]
    fn the_standard_mode_makes_three_attempts() {
        let waits = Retry::STANDARD.waits(std::iter::repeat(0.5));
        assert_eq!(
            waits,
            [Duration::from_millis(50), Duration::from_millis(100)]
        );
    }

    fn answered(transport: &str, status: u16, headers: &[(&str, &str)], body: &str) -> Exchange {
        let label = Label {
            seq: 1,
            context: "c",
            operation: "DescribeJobExecution",
        };
        let request = WireRequest {
            transport: transport.to_string(),
            ..WireRequest::publish("h".to_string(), "t".to_string(), None)
        };
        let response = WireResponse {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.to_string(),
            truncated: false,
        };
        Exchange::new(label, request, Outcome::Answered(response), 0, 0)
    }

    #[rstest]
    #[case("http", 429, &[], "", true)]
    #[case("http", 400, &[("X-Amzn-ErrorType", "ThrottlingException:http://x")], "{}", true)]
    #[case("http", 400, &[], r#"{"__type":"com.amazon#ThrottlingException"}"#, true)]
    #[case("http", 400, &[], r#"{"__type":"InvalidRequestException"}"#, false)]
    #[case("http", 503, &[("x-amzn-errortype", "ServiceUnavailableException")], "{}", false)]
    #[case("http", 200, &[], r#"{"code":"ThrottlingException"}"#, false)]
    #[case("mqtt", 200, &[], r#"{"code":"RequestThrottled"}"#, true)]
    #[case("mqtt", 200, &[], r#"{"code":"InvalidRequest"}"#, false)]
    fn throttles_are_recognised_as_the_sdks_name_them(
        #[case] transport: &str,
        #[case] status: u16,
        #[case] headers: &[(&str, &str)],
        #[case] body: &str,
        #[case] throttle: bool,
    ) {
        let exchange = answered(transport, status, headers, body);
        assert_eq!(is_throttle(&exchange), throttle);
    }
}
