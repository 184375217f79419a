//! HTML escaping of every text that comes from a record.

use std::fmt::{self, Display, Write};

/// Text with the five HTML-special characters escaped, for element content and quoted attributes.
pub(crate) struct Esc<'a>(pub(crate) &'a str);

impl Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '&' => f.write_str("&amp;")?,
                '<' => f.write_str("&lt;")?,
                '>' => f.write_str("&gt;")?,
                '"' => f.write_str("&quot;")?,
                '\'' => f.write_str("&#39;")?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::empty("", "")]
    #[case::plain("plain text", "plain text")]
    #[case::ampersand("smoke & soak", "smoke &amp; soak")]
    #[case::tag("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;")]
    #[case::double_quote(r#"a="b""#, "a=&quot;b&quot;")]
    #[case::single_quote("it's", "it&#39;s")]
    #[case::already_escaped("&amp;", "&amp;amp;")]
    #[case::non_ascii("≤ 100 ms — é", "≤ 100 ms — é")]
    #[case::all_five(r#"&<>"'"#, "&amp;&lt;&gt;&quot;&#39;")]
    fn escapes_the_five_special_characters(#[case] text: &str, #[case] escaped: &str) {
        assert_eq!(Esc(text).to_string(), escaped);
    }
}
