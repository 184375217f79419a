//! Where each member of a YAML document is: a tree of positions, read beside the typed model,
//! so that a problem found after parsing (a rate out of range, probabilities that do not add
//! up) names the line and column of the member at fault.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, Spanned};

/// The positions of a document's members.
#[derive(Debug, Clone)]
pub struct Spans(Spanned<Node>);

#[derive(Debug, Clone)]
enum Node {
    Map(Vec<(String, Spans)>),
    Seq(Vec<Spans>),
    /// A scalar YAML resolved as a number, as the JSON number it becomes.
    Number(serde_json::Number),
    Leaf,
}

impl Spans {
    /// Reads the positions of `text`; `None` when it is not YAML (the typed read says why).
    pub fn read(text: &str) -> Option<Self> {
        serde_saphyr::from_str(text).ok()
    }

    /// `(line, column)` of the member at `path` (mapping keys, or sequence indices as
    /// numbers), or of its deepest ancestor that is there.
    pub fn at(&self, path: &[&str]) -> (u64, u64) {
        let mut here = self;
        for step in path {
            let next = match &here.0.value {
                Node::Map(entries) => entries.iter().find(|(k, _)| k == step).map(|(_, v)| v),
                Node::Seq(items) => step.parse::<usize>().ok().and_then(|i| items.get(i)),
                Node::Number(_) | Node::Leaf => None,
            };
            match next {
                Some(n) => here = n,
                None => break,
            }
        }
        position(here.0.referenced)
    }

    /// Every scalar read as a number: its path (mapping keys, sequence indices as numbers),
    /// its `(line, column)` and the JSON number it becomes.
    pub fn numbers(&self) -> Vec<(Vec<String>, (u64, u64), &serde_json::Number)> {
        let mut out = Vec::new();
        self.collect_numbers(&mut Vec::new(), &mut out);
        out
    }

    fn collect_numbers<'a>(
        &'a self,
        path: &mut Vec<String>,
        out: &mut Vec<(Vec<String>, (u64, u64), &'a serde_json::Number)>,
    ) {
        match &self.0.value {
            Node::Map(entries) => {
                for (key, value) in entries {
                    path.push(key.clone());
                    value.collect_numbers(path, out);
                    path.pop();
                }
            }
            Node::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    path.push(i.to_string());
                    item.collect_numbers(path, out);
                    path.pop();
                }
            }
            Node::Number(n) => out.push((path.clone(), position(self.0.referenced), n)),
            Node::Leaf => {}
        }
    }
}

fn position(l: Location) -> (u64, u64) {
    (l.line(), l.column())
}

impl<'de> Deserialize<'de> for Spans {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Spanned::<Node>::deserialize(deserializer).map(Spans)
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

/// A mapping key of any scalar type, as text.
struct Key(String);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(deserializer)?;
        Ok(Key(match v {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        }))
    }
}

struct NodeVisitor;

macro_rules! leaf {
    ($($name:ident: $t:ty),*) => {
        $(fn $name<E>(self, _: $t) -> Result<Node, E> { Ok(Node::Leaf) })*
    };
}

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    leaf!(visit_bool: bool, visit_str: &str);

    fn visit_i64<E>(self, n: i64) -> Result<Node, E> {
        Ok(Node::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Node, E> {
        Ok(Node::Number(n.into()))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Node, E> {
        // YAML's .inf and .nan have no JSON form; the reader refuses them before this.
        Ok(serde_json::Number::from_f64(n).map_or(Node::Leaf, Node::Number))
    }

    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Leaf)
    }

    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Leaf)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spans>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some((Key(k), v)) = map.next_entry::<Key, Spans>()? {
            entries.push((k, v));
        }
        Ok(Node::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_found_in_block_and_flow_style() {
        let text = "fleet:\n  name: x\n  http: { connections: pool, pool: 0 }\n  load:\n    stages:\n      - { rate: 1 }\n      - { rate: -1 }\n";
        let spans = Spans::read(text).unwrap();
        assert_eq!(spans.at(&["fleet", "http", "pool"]), (3, 36));
        assert_eq!(spans.at(&["fleet", "load", "stages", "1", "rate"]).0, 7);
        assert_eq!(
            spans.at(&["fleet", "missing", "deeper"]),
            spans.at(&["fleet"])
        );
    }
}
