//! Where each field of a YAML document stands, so diagnostics can point at the spec's line.
//!
//! serde tells us *what* is wrong (by field path); this index, built from the YAML event stream,
//! tells us *where*. Paths use serde_path_to_error's form: `device_types[0].metrics[2].range`.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser};

/// A 1-based line and column in the spec file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

/// The index of a document, built on first use: a valid spec never needs it, and indexing a
/// large spec costs more than parsing it.
#[derive(Debug, Default, Clone)]
pub struct Positions {
    text: String,
    index: std::sync::OnceLock<Index>,
}

#[derive(Debug, Default, Clone)]
struct Index {
    keys: HashMap<String, Pos>,
    values: HashMap<String, Pos>,
}

enum Frame {
    Map {
        path: String,
        key: Option<String>,
    },
    Seq {
        path: String,
        next: usize,
    },
    /// A mapping or sequence used as a key: no field path leads into it.
    Opaque {
        depth: usize,
    },
}

impl Positions {
    /// Prepares to index `text` (lazily).
    pub fn index(text: &str) -> Positions {
        Positions {
            text: text.to_string(),
            index: std::sync::OnceLock::new(),
        }
    }

    fn get(&self) -> &Index {
        self.index.get_or_init(|| Index::build(&self.text))
    }

    /// Where the value at `path` starts, or else its nearest ancestor that exists.
    pub fn value(&self, path: &str) -> Option<Pos> {
        let index = self.get();
        lookup(path, |p| index.values.get(p).copied())
    }

    /// Where the key naming `path` stands (for "this field …" messages), falling back to values.
    pub fn key(&self, path: &str) -> Option<Pos> {
        let index = self.get();
        lookup(path, |p| index.keys.get(p).or_else(|| index.values.get(p)).copied())
    }
}

impl Index {
    /// A document the parser cannot read yields an empty index (the caller reports the parse
    /// error from the deserializer, which saw it first).
    fn build(text: &str) -> Index {
        let mut positions = Index::default();
        let mut stack: Vec<Frame> = Vec::new();
        let mut root_seen = false;
        for item in Parser::new_from_str(text) {
            let Ok((event, span)) = item else { break };
            let pos = Pos {
                line: span.start.line(),
                column: span.start.col() + 1,
            };
            let is_start = matches!(event, Event::MappingStart(..) | Event::SequenceStart(..));
            let is_node = is_start || matches!(event, Event::Scalar(..) | Event::Alias(..));
            let is_end = matches!(event, Event::MappingEnd | Event::SequenceEnd);

            if let Some(Frame::Opaque { depth }) = stack.last_mut() {
                if is_start {
                    *depth += 1;
                } else if is_end {
                    *depth -= 1;
                    if *depth == 0 {
                        stack.pop();
                        // The opaque node was a key; its value comes next.
                        if let Some(Frame::Map { key, .. }) = stack.last_mut() {
                            *key = Some("<complex key>".into());
                        }
                    }
                }
                continue;
            }
            if is_end {
                stack.pop();
                continue;
            }
            if !is_node {
                continue;
            }
            // Where does this node sit: as a key, or as a value at some path?
            let value_path = match stack.last_mut() {
                None => {
                    if root_seen {
                        break; // only the first document is the spec
                    }
                    root_seen = true;
                    Some(String::new())
                }
                Some(Frame::Map { path, key }) => match key.take() {
                    None => {
                        if let Event::Scalar(name, ..) = &event {
                            let key_path = join_key(path, name);
                            positions.keys.entry(key_path).or_insert(pos);
                            *key = Some(name.to_string());
                        } else if is_start {
                            stack.push(Frame::Opaque { depth: 1 });
                        } else {
                            *key = Some("<alias key>".into());
                        }
                        None
                    }
                    Some(name) => Some(join_key(path, &name)),
                },
                Some(Frame::Seq { path, next }) => {
                    let p = format!("{path}[{next}]");
                    *next += 1;
                    Some(p)
                }
                Some(Frame::Opaque { .. }) => unreachable!("handled above"),
            };
            if let Some(path) = value_path {
                positions.values.entry(path.clone()).or_insert(pos);
                match event {
                    Event::MappingStart(..) => stack.push(Frame::Map { path, key: None }),
                    Event::SequenceStart(..) => stack.push(Frame::Seq { path, next: 0 }),
                    _ => {}
                }
            }
        }
        positions
    }
}

fn lookup(path: &str, find: impl Fn(&str) -> Option<Pos>) -> Option<Pos> {
    let mut current = path;
    loop {
        if let Some(pos) = find(current) {
            return Some(pos);
        }
        if current.is_empty() {
            return None;
        }
        current = parent(current);
    }
}

fn join_key(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn parent(path: &str) -> &str {
    match path.rfind(['.', '[']) {
        Some(i) => &path[..i],
        None => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "a: 1\nlist:\n  - name: x\n    inner:\n      deep: [1, 2]\n  - name: y\n";

    #[test]
    fn finds_values_and_keys() {
        let p = Positions::index(DOC);
        assert_eq!(p.value("a"), Some(Pos { line: 1, column: 4 }));
        assert_eq!(p.key("list[1].name"), Some(Pos { line: 6, column: 5 }));
        assert_eq!(p.value("list[0].inner.deep[1]"), Some(Pos { line: 5, column: 17 }));
    }

    #[test]
    fn falls_back_to_ancestor() {
        let p = Positions::index(DOC);
        assert_eq!(p.value("list[0].inner.missing"), p.value("list[0].inner"));
    }

    #[test]
    fn survives_garbage() {
        let p = Positions::index("a: [unclosed\n  b: {");
        let _ = p.value("a");
        let p = Positions::index("? [complex, key]\n: value\nnext: 1\n");
        assert_eq!(p.value("next"), Some(Pos { line: 3, column: 7 }));
    }
}
