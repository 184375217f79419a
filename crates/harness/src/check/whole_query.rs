//! An integer member bound to the HTTP query string and given as a whole float
//! (`executionNumber=1.0`). The request schema reads the float as the integer (JSON Schema's
//! reading, `jobcert_contract::whole_number`), but on the wire it is the text `1.0`, and the
//! documentation says only that a long in a query is decimal (spec §2.2; botocore always writes
//! `1`): whether `1.0` is one is open. The reference refuses it (the default); a call in this
//! situation is judged under WI-QUERY-WHOLE, which allows that refusal and the integer reading.

use serde_json::{Map, Value};

use jobcert_contract::{Binding, Operation, RequirementId, req};

/// The open situation `input` puts a call of `operation` over `binding` in, if any: an integer
/// query member given as a float with a zero fraction.
pub fn situation(
    operation: Operation,
    binding: Binding,
    input: &Map<String, Value>,
) -> Option<RequirementId> {
    if binding != Binding::Http {
        return None;
    }
    let schema = operation.request_schema_for(binding).ok()?;
    schema
        .members_at("querystring")
        .filter(|name| schema.inline_type(name) == Some("integer"))
        .filter_map(|name| input.get(name)?.as_number())
        .any(|n| !n.is_i64() && !n.is_u64() && jobcert_contract::whole_number(n).is_some())
        .then_some(req::WI_QUERY_WHOLE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use serde_json::json;

    #[rstest]
    #[case::whole_float_in_the_query(Operation::DescribeJobExecution, Binding::Http, json!({"executionNumber": 1.0}), true)]
    #[case::integer_in_the_query(Operation::DescribeJobExecution, Binding::Http, json!({"executionNumber": 1}), false)]
    #[case::fraction_in_the_query(Operation::DescribeJobExecution, Binding::Http, json!({"executionNumber": 1.5}), false)]
    #[case::beyond_exact_floats(Operation::DescribeJobExecution, Binding::Http, json!({"executionNumber": 1e300}), false)]
    #[case::whole_float_in_a_payload(Operation::DescribeJobExecution, Binding::Mqtt, json!({"executionNumber": 1.0}), false)]
    #[case::whole_float_in_a_body(Operation::UpdateJobExecution, Binding::Http, json!({"executionNumber": 1.0}), false)]
    #[case::boolean_in_the_query(Operation::DescribeJobExecution, Binding::Http, json!({"includeJobDocument": true}), false)]
    #[case::string_in_the_query(Operation::DescribeJobExecution, Binding::Http, json!({"executionNumber": "1.0"}), false)]
    fn only_a_whole_float_bound_to_the_query_is_open(
        #[case] operation: Operation,
        #[case] binding: Binding,
        #[case] input: Value,
        #[case] open: bool,
    ) {
        let input = input.as_object().expect("an object");
        assert_eq!(
            situation(operation, binding, input),
            open.then_some(req::WI_QUERY_WHOLE)
        );
    }
}
