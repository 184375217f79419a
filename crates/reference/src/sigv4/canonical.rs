//! The pieces of a SigV4 canonical request, rebuilt from the request as sent (spec §2.1).

/// SigV4's URI encoding: every byte but the unreserved ones as `%XX`.
pub fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, UNRESERVED).to_string()
}

const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The canonical URI of a raw (already encoded) request path, as every signer but S3's builds
/// it: dot segments and empty segments removed, then the wire form encoded once more, so
/// `/things/my%3Athing/jobs/$next` is `/things/my%253Athing/jobs/%24next`.
pub fn uri(raw_path: &str) -> String {
    if raw_path.is_empty() {
        return "/".to_string();
    }
    let mut kept: Vec<&str> = Vec::new();
    for segment in raw_path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                kept.pop();
            }
            s => kept.push(s),
        }
    }
    let lead = if raw_path.starts_with('/') { "/" } else { "" };
    let trail = if raw_path.ends_with('/') && !kept.is_empty() {
        "/"
    } else {
        ""
    };
    let encoded: Vec<String> = kept.iter().map(|s| encode(s)).collect();
    format!("{lead}{}{trail}", encoded.join("/"))
}

/// The canonical query of a raw query string: every pair decoded and encoded again SigV4's
/// way, sorted by key then value, leaving out the pairs `skip` names.
pub fn query(raw: &str, skip: impl Fn(&str) -> bool) -> String {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(raw.as_bytes())
        .filter(|(k, _)| !skip(k))
        .map(|(k, v)| (encode(&k), encode(&v)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// A header's values as SigV4 signs them: each trimmed, inner runs of spaces made one, joined
/// by commas.
pub fn header_value<'a>(values: impl Iterator<Item = &'a str>) -> String {
    values
        .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_path_is_encoded_a_second_time() {
        let cases = [
            // Spec §2.1's two examples.
            (
                "/things/my%3Athing/jobs/$next",
                "/things/my%253Athing/jobs/%24next",
            ),
            ("/things/t/jobs/%24next", "/things/t/jobs/%2524next"),
            ("/things/t/jobs", "/things/t/jobs"),
            ("", "/"),
            ("/", "/"),
            ("/a//b/./c/../d/", "/a/b/d/"),
            ("/things/caf%C3%A9", "/things/caf%25C3%25A9"),
        ];
        for (raw, canonical) in cases {
            assert_eq!(uri(raw), canonical, "{raw}");
        }
    }

    #[test]
    fn the_query_is_sorted_and_encoded_once() {
        let cases = [
            ("", ""),
            (
                "includeJobDocument=false&executionNumber=3",
                "executionNumber=3&includeJobDocument=false",
            ),
            ("b=2&a=%3A&a=1", "a=%3A&a=1&b=2"),
            ("k=a%20b&k2=a+b", "k=a%20b&k2=a%20b"),
            ("jobId=%24next", "jobId=%24next"),
        ];
        for (raw, canonical) in cases {
            assert_eq!(query(raw, |_| false), canonical, "{raw}");
        }
        assert_eq!(
            query("a=1&X-Amz-Signature=s", |k| k == "X-Amz-Signature"),
            "a=1"
        );
    }

    #[test]
    fn header_values_are_trimmed_and_joined() {
        assert_eq!(header_value([" a   b ", "c"].into_iter()), "a b,c");
        assert_eq!(
            header_value(["application/json"].into_iter()),
            "application/json"
        );
    }
}
