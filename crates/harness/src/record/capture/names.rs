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

    /// `text` with every known real name replaced by its placeholder.
    pub fn apply(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (real, placeholder) in &self.pairs {
            if out.contains(real.as_str()) {
                out = out.replace(real.as_str(), placeholder);
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
