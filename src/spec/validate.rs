//! Semantic checks of a parsed spec. Returns every problem, each pointing at its field.

use std::collections::BTreeMap;

use super::diagnostic::{Diagnostic, Severity};
use super::duration::Duration;
use super::load::LoadedSpec;
use super::model::{API_VERSION, Anomaly, Bounds, FieldType, Gateway, Metric, Spec, Window};
use super::names::Ident;
use super::names::aggregate_name;
use crate::spec::event::{ENVELOPE_FIELDS, GENERATED_COLUMNS};

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

pub(super) struct Checker<'a> {
    pub(super) loaded: &'a LoadedSpec,
    pub(super) diagnostics: Vec<Diagnostic>,
}

impl Checker<'_> {
    pub(super) fn push(
        &mut self,
        severity: Severity,
        code: &'static str,
        path: String,
        message: String,
        help: Option<String>,
    ) {
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

    pub(super) fn error(&mut self, code: &'static str, path: impl Into<String>, message: impl Into<String>) {
        self.push(Severity::Error, code, path.into(), message.into(), None);
    }

    pub(super) fn error_help(
        &mut self,
        code: &'static str,
        path: impl Into<String>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.push(Severity::Error, code, path.into(), message.into(), Some(help.into()));
    }

    pub(super) fn warning(
        &mut self,
        code: &'static str,
        path: impl Into<String>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.push(Severity::Warning, code, path.into(), message.into(), Some(help.into()));
    }

    pub(super) fn ident(&mut self, path: String, name: &Ident) {
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
    pub(super) fn unique<'n>(&mut self, what: &str, names: impl Iterator<Item = (String, &'n str)>) {
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

    /// Each rolling aggregate's view is named `agg_<device type>_<metric>_<window>`: two such
    /// names may not meet (`a_b` + `c` and `a` + `b_c`), or RisingWave would refuse the second.
    fn aggregate_names(&mut self, spec: &Spec) {
        let mut seen: std::collections::HashMap<String, String> = std::collections::HashMap::new();
        for (i, device_type) in spec.device_types.iter().enumerate() {
            for (j, metric) in device_type.metrics.iter().enumerate() {
                for (k, window) in metric.windows.iter().enumerate() {
                    let name = aggregate_name(device_type.name.as_str(), metric.name.as_str(), window);
                    let path = format!("device_types[{i}].metrics[{j}].windows[{k}]");
                    if let Some(first) = seen.get(&name) {
                        self.error_help(
                            "spec::duplicate-name",
                            path,
                            format!("the aggregate view of this window is named `{name}`, as the one of {first}"),
                            "rename a device type or metric: names join with `_`",
                        );
                    } else {
                        seen.insert(name, path);
                    }
                }
            }
        }
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
        self.aggregate_names(spec);
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
        self.thresholds(base, metric);
        self.windows(base, &metric.windows);
        if let Some(anomaly) = &metric.anomaly {
            self.anomaly(&format!("{base}.anomaly"), anomaly);
        }
    }

    /// Each level's bounds inside the range and in order; warning before critical.
    fn thresholds(&mut self, base: &str, metric: &Metric) {
        let range = metric.range;
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
    }

    /// Window sizes and hops RisingWave's TUMBLE and HOP accept, each window once.
    fn windows(&mut self, base: &str, windows: &[Window]) {
        let mut seen_windows = Vec::new();
        for (k, window) in windows.iter().enumerate() {
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
    }

    /// Exactly one baseline, enough samples for a standard deviation, a positive k.
    fn anomaly(&mut self, path: &str, anomaly: &Anomaly) {
        match (anomaly.previous, anomaly.window) {
            (Some(_), Some(_)) | (None, None) => self.error_help(
                "spec::anomaly-baseline",
                path.to_string(),
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
                    self.error_help(
                        "spec::anomaly-baseline",
                        format!("{path}.min_samples"),
                        format!(
                            "min_samples {} exceeds the baseline of {previous} readings, so no anomaly could ever fire",
                            anomaly.min_samples
                        ),
                        "lower min_samples or raise previous",
                    );
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
            if let Some((name, what)) = GENERATED_COLUMNS.iter().find(|(name, _)| *name == field.name.as_str()) {
                self.error_help(
                    "spec::duplicate-name",
                    format!("{path}.name"),
                    format!("`{name}` is a column iotctl generates in the RisingWave views ({what})"),
                    "rename the field",
                );
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
        if crate::time::Day::parse(&sm.start).is_none() {
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
        if sm.default_gateway == Gateway::Risingwave {
            self.error_help(
                "spec::unsupported",
                "sqlmesh.default_gateway",
                "the daily models cannot run on RisingWave: they read the warehouse's raw table and need transactions for SQLMesh's state",
                "use duckdb (embedded) or postgres (the warehouse)",
            );
        }
        let path = &sm.duckdb_path;
        let plain = path.chars().all(|c| c.is_ascii_alphanumeric() || "._/-".contains(c));
        if path.is_empty() || path.contains("..") || path.starts_with('/') || !plain {
            self.error_help(
                "spec::invalid-path",
                "sqlmesh.duckdb_path",
                format!(
                    "`{path}` must be a relative path inside the project, of letters, digits, `.`, `_`, `-` and `/`"
                ),
                "e.g. iotctl.duckdb",
            );
        }
    }
}

fn is_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}
