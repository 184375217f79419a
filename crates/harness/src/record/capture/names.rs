//! Placeholders for the names a capture holds. A recorded thing `dev-1-r7f3h-4` (its run's id
//! `r7f3` taken out, and the separator it leaves) is stored as `{thing:dev-1-h-4}`, a job as
//! `{job:…}`; a replay substitutes
//! run-unique names back. Substitution is textual, over paths, topics and bodies alike, longest
//! name first so that a name that is a prefix of another never takes its place.

/// The placeholder of a thing labelled `label`.
pub fn thing_placeholder(label: &str) -> String {
    format!("{{thing:{label}}}")
}

/// The placeholder of a job labelled `label`.
pub fn job_placeholder(label: &str) -> String {
    format!("{{job:{label}}}")
}

use crate::transport::binding::encode_label;

/// Private-use planes 15 and 16: the two characters of a mark (see [`Placeholders::apply`]).
const MARK_HIGH: std::ops::RangeInclusive<u32> = 0xF0000..=0xFFFFF;
const MARK_LOW: std::ops::RangeInclusive<u32> = 0x100000..=0x10FFFF;

/// The mark standing for pair `i` while names are replaced.
fn mark(i: usize) -> String {
    let high = char::from_u32(MARK_HIGH.start() + (i >> 16) as u32).unwrap_or('\u{F0000}');
    let low = char::from_u32(MARK_LOW.start() + (i & 0xFFFF) as u32).unwrap_or('\u{100000}');
    [high, low].into_iter().collect()
}

/// Real names and the placeholders that stand for them.
#[derive(Debug, Clone, Default)]
pub struct Placeholders {
    /// (real name, placeholder), longest real name first once [`Self::seal`]ed.
    pairs: Vec<(String, String)>,
    /// The run id a recording run put in every name it created, taken out of labels.
    run_id: Option<String>,
}

impl Placeholders {
    /// A mapping whose labels are the real names without `run_id`.
    pub fn new(run_id: Option<String>) -> Self {
        Self {
            pairs: Vec::new(),
            run_id: run_id.filter(|s| !s.is_empty()),
        }
    }

    /// `real` without the run id (and the separator it leaves doubled or dangling).
    fn label(&self, real: &str) -> String {
        let Some(id) = &self.run_id else {
            return real.to_string();
        };
        let without = real.replacen(id.as_str(), "", 1).replace("--", "-");
        let trimmed = without.trim_matches('-');
        if trimmed.is_empty() {
            real.to_string()
        } else {
            trimmed.to_string()
        }
    }

    fn add(&mut self, real: &str, mut placeholder: String) -> String {
        if let Some((_, p)) = self.pairs.iter().find(|(r, _)| r == real) {
            return p.clone();
        }
        // Two names whose labels coincide keep apart: `{thing:a}`, `{thing:a~2}`.
        let base = placeholder.trim_end_matches('}').to_string();
        let mut n = 1;
        while self.pairs.iter().any(|(_, p)| *p == placeholder) {
            n += 1;
            placeholder = format!("{base}~{n}}}");
        }
        self.pairs.push((real.to_string(), placeholder.clone()));
        // A path carries the name as a percent-encoded label (`interop%3Athing-1`).
        let encoded = encode_label(real);
        if encoded != real {
            self.pairs.push((encoded, placeholder.clone()));
        }
        self.pairs
            .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        placeholder
    }

    /// The placeholder of thing `real`, remembered for [`Self::apply`].
    pub fn thing(&mut self, real: &str) -> String {
        let p = thing_placeholder(&self.label(real));
        self.add(real, p)
    }

    /// The placeholder of job `real`, remembered for [`Self::apply`].
    pub fn job(&mut self, real: &str) -> String {
        let p = job_placeholder(&self.label(real));
        self.add(real, p)
    }

    /// `text` with every known real name (or its percent-encoded form) replaced by its
    /// placeholder. Names are first
    /// replaced by marks no name can hold (two private-use characters encoding the pair's
    /// index), and the marks by placeholders at the end, so that a shorter name is never found
    /// inside the placeholder of a longer one (`{thing:dev-11}` holds `dev-1`).
    pub fn apply(&self, text: &str) -> String {
        let mut marked = text.to_string();
        let mut any = false;
        for (i, (real, _)) in self.pairs.iter().enumerate() {
            if marked.contains(real.as_str()) {
                marked = marked.replace(real.as_str(), &mark(i));
                any = true;
            }
        }
        if !any {
            return marked;
        }
        let mut out = String::with_capacity(marked.len());
        let mut chars = marked.chars().peekable();
        while let Some(c) = chars.next() {
            let index = MARK_HIGH
                .contains(&u32::from(c))
                .then(|| chars.next_if(|l| MARK_LOW.contains(&u32::from(*l))))
                .flatten()
                .map(|l| {
                    (((u32::from(c) - MARK_HIGH.start()) << 16) | (u32::from(l) - MARK_LOW.start()))
                        as usize
                });
            match index.and_then(|i| self.pairs.get(i)) {
                Some((_, placeholder)) => out.push_str(placeholder),
                None => out.push(c),
            }
        }
        out
    }
}

/// `text` with every placeholder replaced by what `name` gives for it (`thing` or `job`, and the
/// label); unknown or malformed braces are left as they are.
pub fn substitute(text: &str, name: impl Fn(&str, &str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open..];
        let replaced = after.find('}').and_then(|close| {
            let inner = &after[1..close];
            let (kind, label) = inner.split_once(':')?;
            matches!(kind, "thing" | "job")
                .then(|| name(kind, label))
                .flatten()
                .map(|n| (n, close))
        });
        match replaced {
            Some((n, close)) => {
                out.push_str(&n);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Every placeholder of `kind` (`thing` or `job`) in `text`, by label.
pub fn labels<'a>(text: &'a str, kind: &str) -> Vec<&'a str> {
    let open = format!("{{{kind}:");
    text.match_indices(open.as_str())
        .filter_map(|(i, _)| {
            let rest = &text[i + open.len()..];
            let end = rest.find('}')?;
            let label = &rest[..end];
            (!label.contains('{')).then_some(label)
        })
        .collect()
}
