//! Semantic checks of a parsed spec. Returns every problem, each pointing at its field.

use std::collections::BTreeMap;

use super::diagnostic::{Diagnostic, Severity};
use super::duration::Duration;
use super::load::{LoadedSpec, did_you_mean};
use super::model::{API_VERSION, Bounds, ConnectMode, FieldType, Metric, Spec};
use super::names::{Ident, check_subject, subjects_overlap};
use super::streams::StreamRole;
use crate::reference;
use crate::render::contract_fields::ENVELOPE_FIELDS;

/// Checks `loaded` and returns all diagnostics (errors and warnings), in file order.
pub fn validate(loaded: &LoadedSpec) -> Vec<Diagnostic> {
    let mut checker = Checker {
        loaded,
        diagnostics: Vec::new(),
    };
    checker.run(&loaded.spec);
    let mut diagnostics = checker.diagnostics;
    diagnostics.sort_by_key(|d| d.pos.map(|p| (p.line, p.column)));
    diagnostics
}

struct Checker<'a> {
    loaded: &'a LoadedSpec,
    diagnostics: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn push(&mut self, severity: Severity, code: &'static str, path: String, message: String, help: Option<String>) {
        // Point at the value when it exists, else at the nearest written ancestor.
        let pos = self.loaded.positions.value(&path);
        self.diagnostics.push(Diagnostic {
            severity,
            code,
            message,
            path,
            file: self.loaded.source.name.clone(),
            pos,
            help,
        });
    }

    fn error(&mut self, code: &'static str, path: impl Into<String>, message: impl Into<String>) {
        self.push(Severity::Error, code, path.into(), message.into(), None);
    }

    fn error_help(
        &mut self,
        code: &'static str,
        path: impl Into<String>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.push(Severity::Error, code, path.into(), message.into(), Some(help.into()));
    }

    fn warning(
        &mut self,
        code: &'static str,
        path: impl Into<String>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.push(Severity::Warning, code, path.into(), message.into(), Some(help.into()));
    }

    fn ident(&mut self, path: String, name: &Ident) {
        if let Err(why) = name.check() {
            self.error_help(
                "spec::invalid-name",
                path,
                format!("invalid name: {why}"),
                "names become SQL identifiers and NATS subject tokens: use [a-z][a-z0-9_]*, at most 63 bytes",
            );
        }
    }

    /// Reports the second and later uses of each name in `names`.
    fn unique<'n>(&mut self, what: &str, names: impl Iterator<Item = (String, &'n str)>) {
        let mut seen: BTreeMap<&str, String> = BTreeMap::new();
        for (path, name) in names {
            if let Some(first) = seen.get(name) {
                let first = first.clone();
                self.error_help(
                    "spec::duplicate-name",
                    path,
                    format!("duplicate {what} `{name}`"),
                    format!("first defined at {first}"),
                );
            } else {
                seen.insert(name, path);
            }
        }
    }

    fn run(&mut self, spec: &Spec) {
        if spec.api_version != API_VERSION {
            self.error_help(
                "spec::api-version",
                "apiVersion",
                format!("unsupported apiVersion `{}`", spec.api_version),
                format!("this iotctl reads `{API_VERSION}`"),
            );
        }
        self.ident("pipeline.name".into(), &spec.pipeline.name);
        self.sites(spec);
        self.device_types(spec);
        self.contract(spec);
        self.nats(spec);
        self.streams(spec);
        self.risingwave(spec);
        self.warehouse(spec);
        self.sqlmesh(spec);
        self.slo(spec);
    }

    fn sites(&mut self, spec: &Spec) {
        if spec.sites.is_empty() {
            self.error("spec::empty-list", "sites", "at least one site is required");
        }
        for (i, site) in spec.sites.iter().enumerate() {
            self.ident(format!("sites[{i}].name"), &site.name);
        }
        self.unique(
            "site",
            spec.sites
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("sites[{i}].name"), s.name.as_str())),
        );
    }

    fn device_types(&mut self, spec: &Spec) {
        if spec.device_types.is_empty() {
            self.error(
                "spec::empty-list",
                "device_types",
                "at least one device type is required",
            );
        }
        for (i, device_type) in spec.device_types.iter().enumerate() {
            let base = format!("device_types[{i}]");
            self.ident(format!("{base}.name"), &device_type.name);
            if device_type.metrics.is_empty() {
                self.error(
                    "spec::empty-list",
                    format!("{base}.metrics"),
                    format!("device type `{}` has no metrics", device_type.name),
                );
            }
            for (j, metric) in device_type.metrics.iter().enumerate() {
                self.metric(&format!("{base}.metrics[{j}]"), metric);
            }
            self.unique(
                "metric",
                device_type
                    .metrics
                    .iter()
                    .enumerate()
                    .map(|(j, m)| (format!("{base}.metrics[{j}].name"), m.name.as_str())),
            );
        }
        self.unique(
            "device type",
            spec.device_types
                .iter()
                .enumerate()
                .map(|(i, d)| (format!("device_types[{i}].name"), d.name.as_str())),
        );
    }

    fn metric(&mut self, base: &str, metric: &Metric) {
        self.ident(format!("{base}.name"), &metric.name);
        let range = metric.range;
        if !range.min.is_finite() || !range.max.is_finite() {
            self.error(
                "spec::invalid-range",
                format!("{base}.range"),
                "range bounds must be finite numbers",
            );
        } else if range.min >= range.max {
            self.error_help(
                "spec::invalid-range",
                format!("{base}.range.min"),
                format!("range min {} is not below max {}", range.min, range.max),
                "write the smallest possible reading as min",
            );
        }
        let warning = metric.thresholds.warning;
        let critical = metric.thresholds.critical;
        for (level, bounds) in [("warning", warning), ("critical", critical)] {
            let Some(bounds) = bounds else { continue };
            let path = format!("{base}.thresholds.{level}");
            if bounds.above.is_none() && bounds.below.is_none() {
                self.error_help(
                    "spec::empty-threshold",
                    path.clone(),
                    format!("{level} threshold sets neither `above` nor `below`"),
                    "set `above`, `below` or both, or remove the level",
                );
            }
            for (side, value) in [("above", bounds.above), ("below", bounds.below)] {
                let Some(value) = value else { continue };
                if !value.is_finite() || value < range.min || value > range.max {
                    self.error_help(
                        "spec::threshold-out-of-range",
                        format!("{path}.{side}"),
                        format!(
                            "{level} threshold {side} {value} is outside the valid range [{}, {}]",
                            range.min, range.max
                        ),
                        "a threshold outside the range can never fire or always fires",
                    );
                }
            }
            if let (Some(above), Some(below)) = (bounds.above, bounds.below)
                && below >= above
            {
                self.error(
                    "spec::threshold-order",
                    format!("{path}.below"),
                    format!("{level} `below` ({below}) must be less than `above` ({above})"),
                );
            }
        }
        if let (Some(w), Some(c)) = (warning, critical) {
            self.threshold_order(base, w, c);
        }
        let mut seen_windows = Vec::new();
        for (k, window) in metric.windows.iter().enumerate() {
            let path = format!("{base}.windows[{k}]");
            if window.size < Duration::from_secs(1) {
                self.error(
                    "spec::invalid-window",
                    format!("{path}.size"),
                    "window size must be at least 1s",
                );
            }
            if let Some(hop) = window.hop {
                if hop.is_zero() || hop > window.size {
                    self.error(
                        "spec::invalid-window",
                        format!("{path}.hop"),
                        format!("hop {hop} must be positive and at most the window size {}", window.size),
                    );
                } else if window.size.as_millis() % hop.as_millis() != 0 {
                    self.error_help(
                        "spec::invalid-window",
                        format!("{path}.hop"),
                        format!("window size {} is not a multiple of hop {hop}", window.size),
                        "RisingWave's HOP requires the size to be divisible by the hop",
                    );
                }
            }
            if seen_windows.contains(window) {
                self.error(
                    "spec::duplicate-name",
                    path,
                    format!("window {} is listed twice", window.size),
                );
            }
            seen_windows.push(*window);
        }
        if let Some(anomaly) = &metric.anomaly {
            let path = format!("{base}.anomaly");
            match (anomaly.previous, anomaly.window) {
                (Some(_), Some(_)) | (None, None) => self.error_help(
                    "spec::anomaly-baseline",
                    path.clone(),
                    "anomaly detection needs exactly one baseline: `previous` (readings) or `window` (time)",
                    "e.g. `previous: 60` or `window: 10m`",
                ),
                (Some(previous), None) => {
                    if previous < 2 {
                        self.error(
                            "spec::anomaly-baseline",
                            format!("{path}.previous"),
                            "a baseline needs at least 2 previous readings",
                        );
                    } else if anomaly.min_samples > previous {
                        self.error_help("spec::anomaly-baseline", format!("{path}.min_samples"), format!("min_samples {} exceeds the baseline of {previous} readings, so no anomaly could ever fire", anomaly.min_samples), "lower min_samples or raise previous");
                    }
                }
                (None, Some(window)) => {
                    if window < Duration::from_secs(1) {
                        self.error(
                            "spec::anomaly-baseline",
                            format!("{path}.window"),
                            "the baseline window must be at least 1s",
                        );
                    }
                }
            }
            if anomaly.min_samples < 2 {
                self.error_help(
                    "spec::anomaly-baseline",
                    format!("{path}.min_samples"),
                    "min_samples must be at least 2",
                    "a standard deviation needs two readings",
                );
            }
            if !(anomaly.k.is_finite() && anomaly.k > 0.0) {
                self.error(
                    "spec::anomaly-k",
                    format!("{path}.k"),
                    format!("k must be a positive number, got {}", anomaly.k),
                );
            }
        }
    }

    /// Warning must fire before critical: below warning.above for `above`, over it for `below`.
    fn threshold_order(&mut self, base: &str, warning: Bounds, critical: Bounds) {
        if let (Some(w), Some(c)) = (warning.above, critical.above)
            && w >= c
        {
            self.error_help(
                "spec::threshold-order",
                format!("{base}.thresholds.warning.above"),
                format!("warning above ({w}) must be lower than critical above ({c})"),
                "a reading should cross the warning threshold before the critical one",
            );
        }
        if let (Some(w), Some(c)) = (warning.below, critical.below)
            && w <= c
        {
            self.error_help(
                "spec::threshold-order",
                format!("{base}.thresholds.warning.below"),
                format!("warning below ({w}) must be higher than critical below ({c})"),
                "a reading should cross the warning threshold before the critical one",
            );
        }
    }

    fn contract(&mut self, spec: &Spec) {
        if spec.contract.version == 0 {
            self.error(
                "spec::contract-version",
                "contract.version",
                "contract version starts at 1",
            );
        }
        for (i, field) in spec.contract.extra_fields.iter().enumerate() {
            let path = format!("contract.extra_fields[{i}]");
            self.ident(format!("{path}.name"), &field.name);
            if let Some(envelope) = ENVELOPE_FIELDS.iter().find(|f| f.name == field.name.as_str()) {
                self.error_help("spec::duplicate-name", format!("{path}.name"), format!("`{}` is an envelope field", envelope.name), "extra fields must not shadow the envelope (device_id, site, device_type, metric, ts, value, firmware_version, event_id, seq)");
            }
            if let Some(values) = &field.allowed {
                if field.field_type != FieldType::String {
                    self.error(
                        "spec::invalid-enum",
                        format!("{path}.enum"),
                        "`enum` is only allowed on string fields",
                    );
                } else if values.is_empty() {
                    self.error("spec::invalid-enum", format!("{path}.enum"), "`enum` lists no values");
                }
                self.unique(
                    "enum value",
                    values
                        .iter()
                        .enumerate()
                        .map(|(k, v)| (format!("{path}.enum[{k}]"), v.as_str())),
                );
            }
        }
        self.unique(
            "extra field",
            spec.contract
                .extra_fields
                .iter()
                .enumerate()
                .map(|(i, f)| (format!("contract.extra_fields[{i}].name"), f.name.as_str())),
        );
    }

    fn nats(&mut self, spec: &Spec) {
        if spec.nats.servers.is_empty() {
            self.error(
                "spec::empty-list",
                "nats.servers",
                "at least one NATS server URL is required",
            );
        }
        for (i, url) in spec.nats.servers.iter().enumerate() {
            let path = format!("nats.servers[{i}]");
            let rest = url.split_once("://").map(|(scheme, rest)| (scheme, rest));
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

    fn streams(&mut self, spec: &Spec) {
        let streams = spec.streams();
        for stream in &streams {
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
        let telemetry = &streams[0];
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
        let device_subject = format!("{}.site.device_type.metric", spec.nats.subject_prefix);
        if !telemetry
            .subjects
            .iter()
            .any(|s| subjects_overlap(s, &device_subject) && covers_depth(s, &device_subject))
        {
            self.error_help(
                "spec::subject-not-captured",
                "nats.streams.telemetry.subjects",
                format!(
                    "telemetry subjects do not capture `{}.{{site}}.{{device_type}}.{{metric}}`",
                    spec.nats.subject_prefix
                ),
                format!("use `{}.>`", spec.nats.subject_prefix),
            );
        }
        self.unique(
            "stream name",
            streams
                .iter()
                .map(|s| (format!("nats.streams.{}.name", s.role.key()), s.name.as_str())),
        );
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

    fn risingwave(&mut self, spec: &Spec) {
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
        if rw.ingestion.watermark_delay.is_zero() {
            self.warning(
                "spec::watermark",
                "risingwave.ingestion.watermark_delay",
                "watermark delay 0 drops every event that arrives out of order",
                "allow a few seconds, e.g. `5s`",
            );
        }
        if rw.ingestion.watermark_delay > spec.slo.alert_latency_p99 * 60 {
            self.warning(
                "spec::watermark",
                "risingwave.ingestion.watermark_delay",
                format!(
                    "watermark delay {} holds windows open far longer than the alert latency SLO {}",
                    rw.ingestion.watermark_delay, spec.slo.alert_latency_p99
                ),
                "closed-window results wait for the watermark",
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
            let subject = crate::render::alert_sink_subject(spec, sink);
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

    fn warehouse(&mut self, spec: &Spec) {
        let wh = &spec.warehouse;
        self.ident("warehouse.schema".into(), &wh.schema);
        self.ident("warehouse.raw_table".into(), &wh.raw_table);
        if wh.host.is_empty() || wh.host.contains(char::is_whitespace) || wh.host.contains('@') {
            self.error(
                "spec::invalid-host",
                "warehouse.host",
                format!("`{}` is not a host name", wh.host),
            );
        }
        if wh.port == 0 {
            self.error("spec::invalid-port", "warehouse.port", "port must be 1-65535");
        }
        for (field, value) in [
            ("password_env", &wh.password_env),
            ("user", &wh.user),
            ("database", &wh.database),
        ] {
            if value.is_empty() {
                self.error(
                    "spec::missing-field",
                    format!("warehouse.{field}"),
                    format!("`{field}` must not be empty"),
                );
            }
        }
        if !is_env_name(&wh.password_env) {
            self.error_help(
                "spec::invalid-env",
                "warehouse.password_env",
                format!("`{}` is not an environment variable name", wh.password_env),
                "write the variable's name, e.g. IOTCTL_WAREHOUSE_PASSWORD; never the password itself",
            );
        }
    }

    fn sqlmesh(&mut self, spec: &Spec) {
        let sm = &spec.sqlmesh;
        self.ident("sqlmesh.schema".into(), &sm.schema);
        if !is_iso_date(&sm.start) {
            self.error_help(
                "spec::invalid-date",
                "sqlmesh.start",
                format!("`{}` is not a date", sm.start),
                "write YYYY-MM-DD",
            );
        }
        if sm.batch_size_days == 0 {
            self.error(
                "spec::invalid-limit",
                "sqlmesh.batch_size_days",
                "batch_size_days must be at least 1",
            );
        }
        if sm.schema == spec.warehouse.schema {
            self.error_help(
                "spec::duplicate-name",
                "sqlmesh.schema",
                "the SQLMesh schema is the raw-telemetry schema",
                "SQLMesh owns its schema; keep raw data apart",
            );
        }
        let path = &sm.duckdb_path;
        if path.is_empty() || path.contains("..") || path.starts_with('/') {
            self.error_help(
                "spec::invalid-path",
                "sqlmesh.duckdb_path",
                format!("`{path}` must be a relative path inside the project"),
                "e.g. iotctl.duckdb",
            );
        }
    }

    fn slo(&mut self, spec: &Spec) {
        if spec.slo.alert_latency_p99.is_zero() {
            self.error(
                "spec::invalid-slo",
                "slo.alert_latency_p99",
                "alert latency target must be positive",
            );
        }
        if spec.slo.replay_retention.is_zero() {
            self.error(
                "spec::invalid-slo",
                "slo.replay_retention",
                "replay retention must be positive",
            );
        }
        let rate = spec.slo.max_drop_rate;
        if !(0.0..=1.0).contains(&rate) {
            self.error(
                "spec::invalid-slo",
                "slo.max_drop_rate",
                format!("max_drop_rate is a fraction between 0 and 1, got {rate}"),
            );
        }
    }
}

/// Whether the filter `filter` matches subjects as deep as `subject` (not just a prefix).
fn covers_depth(filter: &str, subject: &str) -> bool {
    filter.ends_with('>') || filter.split('.').count() == subject.split('.').count()
}

fn is_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

pub fn is_iso_date(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    let [year, month, day] = parts.as_slice() else {
        return false;
    };
    let (Ok(y), Ok(m), Ok(d)) = (year.parse::<u32>(), month.parse::<u32>(), day.parse::<u32>()) else {
        return false;
    };
    if year.len() != 4 || month.len() != 2 || day.len() != 2 || !(1..=12).contains(&m) || d == 0 {
        return false;
    }
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    d <= days[(m - 1) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert!(is_iso_date("2024-02-29"));
        assert!(!is_iso_date("2023-02-29"));
        assert!(!is_iso_date("2023-13-01"));
        assert!(!is_iso_date("23-01-01"));
    }
}
