//! Semantic checks of the connector sections: NATS servers and streams (subjects, retention,
//! overlaps), RisingWave options and sinks. Split from `validate` by concept.

use super::load::did_you_mean;
use super::model::{ConnectMode, Spec};
use super::streams::{StreamConfig, StreamRole};
use super::subjects::{TelemetrySubject, check_subject, subjects_overlap};
use super::validate::Checker;
use crate::reference;

impl Checker<'_> {
    pub(super) fn nats(&mut self, spec: &Spec) {
        if spec.nats.servers.is_empty() {
            self.error(
                "spec::empty-list",
                "nats.servers",
                "at least one NATS server URL is required",
            );
        }
        for (i, url) in spec.nats.servers.iter().enumerate() {
            let path = format!("nats.servers[{i}]");
            let rest = url.split_once("://");
            match rest {
                Some(("nats" | "tls", rest)) if !rest.is_empty() => {
                    if rest.contains('@') {
                        self.error_help(
                            "spec::secret-in-spec",
                            path,
                            "server URL carries credentials",
                            "specs are committed: pass credentials with --nats-creds or IOTCTL_NATS_PASSWORD instead",
                        );
                    } else if rest.contains(',') || rest.contains(char::is_whitespace) {
                        self.error("spec::invalid-url", path, "list each server URL as its own item");
                    }
                }
                _ => self.error_help(
                    "spec::invalid-url",
                    path,
                    format!("`{url}` is not a NATS URL"),
                    "write nats://host:port or tls://host:port",
                ),
            }
        }
        let prefix = &spec.nats.subject_prefix;
        match check_subject(prefix, false) {
            Err(why) => self.error("spec::invalid-subject", "nats.subject_prefix", why),
            Ok(()) => {
                let reserved = StreamRole::ALL
                    .iter()
                    .filter_map(|r| r.root())
                    .find(|root| prefix.split('.').next() == Some(*root));
                if let Some(root) = reserved {
                    self.error_help(
                        "spec::invalid-subject",
                        "nats.subject_prefix",
                        format!("prefix starts with `{root}`, the root iotctl reserves for another stream"),
                        "pick a prefix such as `iot`",
                    );
                }
            }
        }
        if spec.nats.connect_mode == ConnectMode::UserAndPassword
            && spec.nats.username.as_deref().unwrap_or("").is_empty()
        {
            self.error(
                "spec::missing-field",
                "nats.connect_mode",
                "connect_mode user_and_password needs `nats.username`",
            );
        }
    }

    pub(super) fn streams(&mut self, spec: &Spec) {
        let streams = spec.streams();
        for stream in &streams {
            self.stream(stream);
        }
        self.telemetry_stream(spec, &streams[0]);
        self.unique(
            "stream name",
            streams
                .iter()
                .map(|s| (format!("nats.streams.{}.name", s.role.key()), s.name.as_str())),
        );
        self.stream_overlaps(spec, &streams);
    }

    /// NATS refuses two streams whose subjects overlap.
    fn stream_overlaps(&mut self, spec: &Spec, streams: &[StreamConfig]) {
        for (i, a) in streams.iter().enumerate() {
            for b in &streams[i + 1..] {
                for subject_a in &a.subjects {
                    for subject_b in &b.subjects {
                        if subjects_overlap(subject_a, subject_b) {
                            self.error_help(
                                "spec::subject-overlap",
                                format!("nats.streams.{}.subjects", b.role.key()),
                                format!("`{subject_b}` ({} stream) overlaps `{subject_a}` ({} stream)", b.role.key(), a.role.key()),
                                format!("NATS refuses streams with overlapping subjects; give each stream its own root, e.g. `{}.>`", spec.subject_root(b.role)),
                            );
                        }
                    }
                }
            }
        }
    }

    /// One stream's name, subjects, limits and retention.
    fn stream(&mut self, stream: &StreamConfig) {
        let base = format!("nats.streams.{}", stream.role.key());
        if let Err(why) = stream.name.check() {
            self.error(
                "spec::invalid-name",
                format!("{base}.name"),
                format!("invalid stream name: {why}"),
            );
        }
        for (k, subject) in stream.subjects.iter().enumerate() {
            if let Err(why) = check_subject(subject, true) {
                self.error("spec::invalid-subject", format!("{base}.subjects[{k}]"), why);
            }
        }
        if stream.subjects.is_empty() {
            self.error(
                "spec::empty-list",
                format!("{base}.subjects"),
                "a stream needs at least one subject",
            );
        }
        if !(1..=5).contains(&stream.replicas) {
            self.error(
                "spec::invalid-replicas",
                format!("{base}.replicas"),
                format!("replicas must be 1 to 5, got {}", stream.replicas),
            );
        }
        if stream.max_bytes < -1 || stream.max_bytes == 0 {
            self.error_help(
                "spec::invalid-limit",
                format!("{base}.max_bytes"),
                format!("max_bytes must be positive or -1 (unlimited), got {}", stream.max_bytes),
                "leave it out for no limit",
            );
        }
        if stream.max_msgs < -1 || stream.max_msgs == 0 {
            self.error_help(
                "spec::invalid-limit",
                format!("{base}.max_msgs"),
                format!("max_msgs must be positive or -1 (unlimited), got {}", stream.max_msgs),
                "leave it out for no limit",
            );
        }
        if stream.max_age.is_zero() {
            self.error_help(
                "spec::invalid-retention",
                format!("{base}.max_age"),
                "max_age must be positive: every iotctl stream is bounded by age",
                "e.g. `7d`",
            );
        } else if stream.duplicate_window > stream.max_age {
            self.error(
                "spec::invalid-retention",
                format!("{base}.duplicate_window"),
                format!(
                    "duplicate_window {} exceeds max_age {}",
                    stream.duplicate_window, stream.max_age
                ),
            );
        }
        if stream.duplicate_window.is_zero() {
            self.warning(
                "spec::no-dedupe",
                format!("{base}.duplicate_window"),
                "duplicate_window 0 disables Nats-Msg-Id deduplication",
                "replays rely on it to never write an event twice",
            );
        }
    }

    /// The telemetry stream holds the replay SLO's history and captures every device subject.
    fn telemetry_stream(&mut self, spec: &Spec, telemetry: &StreamConfig) {
        if telemetry.max_age < spec.slo.replay_retention {
            self.error_help(
                "spec::retention-below-slo",
                "nats.streams.telemetry.max_age",
                format!(
                    "telemetry max_age {} is shorter than the replay retention SLO {}",
                    telemetry.max_age, spec.slo.replay_retention
                ),
                "operators replay history from this stream: keep at least slo.replay_retention",
            );
        }
        // The telemetry stream must capture every subject devices publish to.
        let layout = TelemetrySubject::of(spec);
        if !telemetry.subjects.iter().any(|filter| layout.is_captured_by(filter)) {
            self.error_help(
                "spec::subject-not-captured",
                "nats.streams.telemetry.subjects",
                format!("telemetry subjects do not capture `{}`", layout.pattern()),
                format!("use `{}.>`", spec.nats.subject_prefix),
            );
        }
    }

    pub(super) fn risingwave(&mut self, spec: &Spec) {
        let rw = &spec.risingwave;
        self.ident("risingwave.schema".into(), &rw.schema);
        self.ident("risingwave.ingestion.table".into(), &rw.ingestion.table);
        if let Err(why) = rw.ingestion.durable_consumer.check() {
            self.error(
                "spec::invalid-name",
                "risingwave.ingestion.durable_consumer",
                format!("invalid consumer name: {why}"),
            );
        }
        let lateness = rw.ingestion.allowed_lateness;
        if lateness < spec.slo.alert_latency_p99 {
            self.warning(
                "spec::lateness",
                "risingwave.ingestion.allowed_lateness",
                format!(
                    "allowed lateness {lateness} is below the alert latency SLO {}: a reading delivered within the SLO could count as late, and late readings never page",
                    spec.slo.alert_latency_p99
                ),
                "allow a few seconds, e.g. `5s`",
            );
        }
        for key in rw.ingestion.options.keys() {
            let path = format!("risingwave.ingestion.options.{key}");
            self.option_key(
                path,
                key,
                reference::is_nats_source_option(key),
                reference::OWNED_SOURCE_OPTIONS,
                reference::FORBIDDEN_SOURCE_OPTIONS,
                reference::keys(reference::NATS_SOURCE_OPTIONS),
            );
        }
        let alerts = spec.stream(StreamRole::Alerts);
        for (i, sink) in rw.alert_sinks.iter().enumerate() {
            let base = format!("risingwave.alert_sinks[{i}]");
            self.ident(format!("{base}.name"), &sink.name);
            let subject = super::subjects::alert_sink_subject(spec, sink);
            match check_subject(&subject, false) {
                Err(why) => self.error("spec::invalid-subject", format!("{base}.subject"), why),
                Ok(()) => {
                    if !alerts.subjects.iter().any(|s| subjects_overlap(s, &subject)) {
                        self.error_help(
                            "spec::subject-not-captured",
                            format!("{base}.subject"),
                            format!(
                                "alert subject `{subject}` is not captured by the alerts stream ({})",
                                alerts.subjects.join(", ")
                            ),
                            format!("publish under `{}.`", spec.subject_root(StreamRole::Alerts)),
                        );
                    }
                }
            }
            for key in sink.options.keys() {
                let path = format!("{base}.options.{key}");
                self.option_key(
                    path,
                    key,
                    reference::is_nats_sink_option(key),
                    reference::OWNED_SINK_OPTIONS,
                    &[],
                    reference::keys(reference::NATS_SINK_OPTIONS),
                );
            }
        }
        self.unique(
            "alert sink",
            rw.alert_sinks
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("risingwave.alert_sinks[{i}].name"), s.name.as_str())),
        );
        if rw.warehouse_sink.max_batch_rows == Some(0) {
            self.error(
                "spec::invalid-limit",
                "risingwave.warehouse_sink.max_batch_rows",
                "max_batch_rows must be positive",
            );
        }
    }

    fn option_key(
        &mut self,
        path: String,
        key: &str,
        documented: bool,
        owned: &[&str],
        forbidden: &[(&str, &str)],
        known: impl Iterator<Item = &'static str>,
    ) {
        if let Some((_, why)) = forbidden.iter().find(|(k, _)| *k == key) {
            self.error(
                "spec::forbidden-option",
                path,
                format!("option `{key}` must not be set: {why}"),
            );
        } else if owned.contains(&key) {
            self.error(
                "spec::owned-option",
                path,
                format!("option `{key}` is rendered by iotctl from the spec"),
            );
        } else if !documented {
            let known: Vec<String> = known.map(str::to_string).collect();
            let help = match did_you_mean(key, &known) {
                Some(best) => format!("did you mean `{best}`?"),
                None => "see RisingWave's documented NATS connector options".to_string(),
            };
            self.error_help(
                "spec::unknown-option",
                path,
                format!("RisingWave does not know the option `{key}`"),
                help,
            );
        }
    }
}
