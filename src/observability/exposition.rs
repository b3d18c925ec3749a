//! The OpenMetrics text exposition (also valid Prometheus text for a textfile collector):
//! gauge families only, so that both parsers read the same names, ending with `# EOF`.

use std::fmt::Write;

use super::metrics::Gauge;

/// One sample: label pairs and a value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

/// The samples of every gauge a command exports, in the catalog's order.
#[derive(Debug, Default)]
pub struct Exposition {
    families: Vec<(Gauge, Vec<Sample>)>,
}

impl Exposition {
    /// Adds a sample to `gauge`'s family. Its labels must be the gauge's, in order.
    pub fn add(&mut self, gauge: Gauge, labels: Vec<(&'static str, String)>, value: f64) {
        debug_assert_eq!(
            labels.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
            gauge.labels,
            "{}",
            gauge.name
        );
        let sample = Sample { labels, value };
        match self.families.iter_mut().find(|(g, _)| g.name == gauge.name) {
            Some((_, samples)) => samples.push(sample),
            None => self.families.push((gauge, vec![sample])),
        }
    }

    pub fn samples(&self, name: &str) -> &[Sample] {
        self.families
            .iter()
            .find(|(g, _)| g.name == name)
            .map_or(&[], |(_, s)| s.as_slice())
    }

    /// The exposition text, `# EOF` last.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for (gauge, samples) in &self.families {
            let _ = writeln!(out, "# HELP {} {}", gauge.name, escape_help(gauge.help));
            let _ = writeln!(out, "# TYPE {} gauge", gauge.name);
            if let Some(unit) = gauge.unit {
                let _ = writeln!(out, "# UNIT {} {unit}", gauge.name);
            }
            for sample in samples {
                out.push_str(gauge.name);
                if !sample.labels.is_empty() {
                    out.push('{');
                    for (i, (key, value)) in sample.labels.iter().enumerate() {
                        let comma = if i > 0 { "," } else { "" };
                        let _ = write!(out, "{comma}{key}=\"{}\"", escape_label(value));
                    }
                    out.push('}');
                }
                let _ = writeln!(out, " {}", number(sample.value));
            }
        }
        out.push_str("# EOF\n");
        out
    }
}

/// A value as both formats spell it: `NaN`, `+Inf`, `-Inf`, or the shortest decimal.
pub fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        format!("{value}")
    }
}

fn escape_label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observability::metrics::{DEAD_LETTERS, STREAM_MESSAGES};

    #[test]
    fn families_group_their_samples_and_labels_are_escaped() {
        let mut e = Exposition::default();
        let stream = |name: &str| {
            vec![
                ("pipeline", "p".to_string()),
                ("stream", name.to_string()),
                ("role", "telemetry".to_string()),
            ]
        };
        e.add(STREAM_MESSAGES, stream("A"), 3.0);
        e.add(
            DEAD_LETTERS,
            vec![
                ("pipeline", "p".into()),
                ("reason", "a \"q\" \\ b\nc".into()),
                ("writer", "iotctl".into()),
            ],
            2.0,
        );
        e.add(STREAM_MESSAGES, stream("B"), 0.5);
        let text = e.text();
        assert_eq!(
            text.matches(&format!("# TYPE {} gauge", STREAM_MESSAGES.name)).count(),
            1
        );
        assert!(text.contains(&format!(
            "{}{{pipeline=\"p\",stream=\"B\",role=\"telemetry\"}} 0.5\n",
            STREAM_MESSAGES.name
        )));
        assert!(text.contains(r#"reason="a \"q\" \\ b\nc""#), "{text}");
        assert!(text.ends_with("# EOF\n"));
        assert_eq!(e.samples(STREAM_MESSAGES.name).len(), 2);
    }

    #[test]
    fn special_values_are_spelled_as_the_format_wants() {
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(1e20), "100000000000000000000");
    }
}
