//! NATS subjects, in one place: the telemetry layout `{prefix}.{site}.{device_type}.{metric}`
//! (concrete subjects, filters, the position of each token), the roots the other streams
//! publish under (`replay.`, `dlq.`, `alerts.`), and the subject grammar NATS enforces.

use super::Spec;
use super::model::AlertSink;
use super::streams::StreamRole;

/// The layout in words, as reasons and messages name it.
pub const LAYOUT: &str = "{prefix}.{site}.{device_type}.{metric}";

/// The telemetry subject layout of one pipeline: `{prefix}.{site}.{device_type}.{metric}`,
/// where the prefix may itself have several tokens (`fleet.eu`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetrySubject {
    prefix: String,
    prefix_tokens: usize,
}

/// The three tokens after the prefix of a telemetry subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubjectTokens<'s> {
    pub site: &'s str,
    pub device_type: &'s str,
    pub metric: &'s str,
}

impl TelemetrySubject {
    pub fn of(spec: &Spec) -> TelemetrySubject {
        TelemetrySubject::with_prefix(&spec.nats.subject_prefix)
    }

    pub fn with_prefix(prefix: &str) -> TelemetrySubject {
        TelemetrySubject {
            prefix: prefix.to_string(),
            prefix_tokens: prefix.split('.').count(),
        }
    }

    /// How many tokens the prefix has.
    pub fn prefix_tokens(&self) -> usize {
        self.prefix_tokens
    }

    /// The 1-based position of the site token, as SQL's `split_part` counts.
    pub fn site_token_position(&self) -> usize {
        self.prefix_tokens + 1
    }

    /// The layout as the contracts document it: `iot.{site}.{device_type}.{metric}`.
    pub fn pattern(&self) -> String {
        format!("{}.{{site}}.{{device_type}}.{{metric}}", self.prefix)
    }

    /// The subject a device publishes one metric on.
    pub fn concrete(&self, site: &str, device_type: &str, metric: &str) -> String {
        format!("{}.{site}.{device_type}.{metric}", self.prefix)
    }

    /// A filter over the layout; an absent token matches any. With no token given it is the
    /// whole prefix (`iot.>`): reading the whole stream spares the server a subject match per
    /// message, and events published on a malformed subject are read (and dead-lettered)
    /// instead of passed over.
    pub fn filter(&self, site: Option<&str>, device_type: Option<&str>, metric: Option<&str>) -> String {
        match (site, device_type, metric) {
            (None, None, None) => self.everything(),
            _ => self.concrete(site.unwrap_or("*"), device_type.unwrap_or("*"), metric.unwrap_or("*")),
        }
    }

    /// Whether a stream's subject filter captures every subject of the layout (as deep, not
    /// only a prefix of it).
    pub fn is_captured_by(&self, filter: &str) -> bool {
        let any = self.concrete("site", "device_type", "metric");
        subjects_overlap(filter, &any) && (filter.ends_with('>') || filter.split('.').count() == any.split('.').count())
    }

    /// Every subject under the prefix, malformed ones included.
    pub fn everything(&self) -> String {
        format!("{}.>", self.prefix)
    }

    /// The site, device type and metric of a subject in the layout; None when the subject has
    /// another shape or prefix.
    pub fn tokens<'s>(&self, subject: &'s str) -> Option<SubjectTokens<'s>> {
        let rest = subject.strip_prefix(self.prefix.as_str())?.strip_prefix('.')?;
        let mut tokens = rest.split('.');
        let (site, device_type, metric) = (tokens.next()?, tokens.next()?, tokens.next()?);
        tokens.next().is_none().then_some(SubjectTokens {
            site,
            device_type,
            metric,
        })
    }
}

/// Where a replayed event goes: its original subject under the replay root.
pub fn replay_subject(original: &str) -> String {
    format!("{}.{original}", StreamRole::Replay.root().unwrap_or("replay"))
}

/// Where iotctl dead-letters an event: its original subject under the dead-letter root.
pub fn dead_letter_subject(original: &str) -> String {
    format!("{}.{original}", StreamRole::DeadLetter.root().unwrap_or("dlq"))
}

/// Where RisingWave's rejected rows are dead-lettered (one subject: the row carries its own).
pub fn risingwave_dead_letter_subject(spec: &Spec) -> String {
    format!("{}.risingwave", spec.subject_root(StreamRole::DeadLetter))
}

/// The fixed NATS subject an alert sink publishes to.
pub fn alert_sink_subject(spec: &Spec, sink: &AlertSink) -> String {
    sink.subject
        .clone()
        .unwrap_or_else(|| format!("{}.{}", spec.subject_root(StreamRole::Alerts), sink.name))
}

impl Spec {
    /// Subject under which a role's messages are published, e.g. `dlq.iot`.
    pub fn subject_root(&self, role: StreamRole) -> String {
        match role.root() {
            None => self.nats.subject_prefix.clone(),
            Some(root) => format!("{root}.{}", self.nats.subject_prefix),
        }
    }
}

/// Checks a NATS subject or subject filter: dot-separated non-empty tokens without whitespace;
/// `*` only as a whole token; `>` only as the whole last token.
pub fn check_subject(subject: &str, allow_wildcards: bool) -> Result<(), String> {
    if subject.is_empty() {
        return Err("subject is empty".into());
    }
    let tokens: Vec<&str> = subject.split('.').collect();
    for (i, token) in tokens.iter().enumerate() {
        if token.is_empty() {
            return Err(format!("subject `{subject}` has an empty token"));
        }
        if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("subject `{}` contains whitespace", subject.escape_default()));
        }
        let wildcard = *token == "*" || *token == ">";
        if wildcard && !allow_wildcards {
            return Err(format!("subject `{subject}` must not contain wildcards"));
        }
        if *token == ">" && i + 1 != tokens.len() {
            return Err(format!("subject `{subject}`: `>` may only be the last token"));
        }
        if !wildcard && (token.contains('*') || token.contains('>')) {
            return Err(format!("subject `{subject}`: wildcards must be whole tokens"));
        }
    }
    Ok(())
}

/// Whether two subject filters can match a common subject (NATS refuses such stream pairs).
pub fn subjects_overlap(a: &str, b: &str) -> bool {
    let a: Vec<&str> = a.split('.').collect();
    let b: Vec<&str> = b.split('.').collect();
    let mut i = 0;
    loop {
        match (a.get(i), b.get(i)) {
            (Some(&">"), Some(_)) | (Some(_), Some(&">")) => return true,
            (Some(x), Some(y)) => {
                if x != y && *x != "*" && *y != "*" {
                    return false;
                }
            }
            (None, None) => return true,
            _ => return false,
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_builds_subjects_filters_and_reads_tokens_back() {
        let layout = TelemetrySubject::with_prefix("fleet.eu");
        assert_eq!(layout.prefix_tokens(), 2);
        assert_eq!(layout.site_token_position(), 3);
        assert_eq!(layout.pattern(), "fleet.eu.{site}.{device_type}.{metric}");
        assert_eq!(layout.concrete("berlin", "press", "temp"), "fleet.eu.berlin.press.temp");
        assert_eq!(layout.filter(None, None, None), "fleet.eu.>");
        assert_eq!(layout.filter(Some("berlin"), None, None), "fleet.eu.berlin.*.*");
        assert_eq!(
            layout.filter(Some("berlin"), None, Some("temp")),
            "fleet.eu.berlin.*.temp"
        );
        assert_eq!(layout.filter(None, Some("press"), None), "fleet.eu.*.press.*");
        let tokens = layout.tokens("fleet.eu.berlin.press.temp").unwrap();
        assert_eq!(
            (tokens.site, tokens.device_type, tokens.metric),
            ("berlin", "press", "temp")
        );
        for bad in [
            "fleet.eu.berlin.press",
            "fleet.eu.berlin.press.temp.x",
            "fleet.us.berlin.press.temp",
            "fleet.eux.a.b.c",
        ] {
            assert_eq!(layout.tokens(bad), None, "{bad}");
        }
        assert!(layout.is_captured_by("fleet.eu.>"));
        assert!(layout.is_captured_by("fleet.eu.*.*.*"));
        assert!(!layout.is_captured_by("fleet.eu.*.*"));
        assert!(!layout.is_captured_by("fleet.eu.berlin.>"));
    }

    #[test]
    fn other_streams_publish_under_their_roots() {
        assert_eq!(replay_subject("iot.berlin.press.temp"), "replay.iot.berlin.press.temp");
        assert_eq!(dead_letter_subject("iot.a.b.c"), "dlq.iot.a.b.c");
    }

    #[test]
    fn subjects() {
        assert!(check_subject("iot.*.*.*", true).is_ok());
        assert!(check_subject("iot.>", true).is_ok());
        assert!(check_subject("iot.>.x", true).is_err());
        assert!(check_subject("iot..x", true).is_err());
        assert!(check_subject("iot.a*", true).is_err());
        assert!(check_subject("alerts.iot.x", false).is_ok());
        assert!(check_subject("alerts.*", false).is_err());
    }

    #[test]
    fn overlap() {
        assert!(subjects_overlap("iot.>", "iot.dlq.>"));
        assert!(subjects_overlap("iot.*.*.*", "iot.a.b.c"));
        assert!(subjects_overlap("iot.*.*.*", "iot.a.>"));
        assert!(!subjects_overlap("iot.>", "dlq.iot.>"));
        assert!(!subjects_overlap("iot.*.*.*", "iot.a.b"));
        assert!(!subjects_overlap("iot.>", "iot"));
        assert!(subjects_overlap("a.b", "a.b"));
    }
}
