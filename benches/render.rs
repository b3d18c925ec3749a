//! Validate and render a generated large spec (50 sites, 200 device types × 10 metrics) and
//! print the timings; target: validate + render under 200 ms on these machines. When the
//! SQLMesh venv exists (scripts/setup.sh), also times how long `sqlmesh info` takes to load the
//! rendered project. Run: `cargo bench --bench render`.

use std::fmt::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

use iotctl::render::{render_all, templates::Templates};
use iotctl::spec;

fn large_spec(sites: usize, device_types: usize, metrics: usize) -> String {
    let mut y = String::from("apiVersion: iotctl/v1\npipeline:\n  name: bench\nsites:\n");
    for s in 0..sites {
        let _ = writeln!(y, "  - name: site_{s:03}");
    }
    y.push_str("device_types:\n");
    for d in 0..device_types {
        let _ = writeln!(y, "  - name: type_{d:03}\n    metrics:");
        for m in 0..metrics {
            let _ = writeln!(
                y,
                "      - name: metric_{m:02}\n        unit: unit\n        range: {{ min: 0, max: 1000 }}\n        thresholds:\n          warning: {{ above: 700, below: 50 }}\n          critical: {{ above: 900, below: 10 }}\n        windows:\n          - size: 1m\n          - size: 1h\n            hop: 5m"
            );
            if m % 3 == 0 {
                y.push_str("        anomaly: { previous: 60, k: 3, min_samples: 20 }\n");
            }
        }
    }
    y
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let text = large_spec(50, 200, 10);
    if std::env::var_os("IOTCTL_BENCH_BREAKDOWN").is_some() {
        breakdown(&text);
    }
    let runs = 15;
    let (mut parse, mut validate, mut render, mut total) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let templates = Templates::embedded();
    let mut rendering = None;
    for _ in 0..runs {
        let start = Instant::now();
        let loaded = spec::load::parse("bench.yaml", text.as_bytes()).expect("bench spec parses");
        let parsed = Instant::now();
        let diagnostics = spec::validate::validate(&loaded);
        assert!(diagnostics.iter().all(|d| !d.is_error()), "{diagnostics:#?}");
        let validated = Instant::now();
        let result = render_all(&loaded.spec, &templates).expect("bench spec renders");
        let rendered = Instant::now();
        parse.push(parsed - start);
        validate.push(validated - parsed);
        render.push(rendered - validated);
        total.push(rendered - start);
        rendering = Some(result);
    }
    let rendering = rendering.unwrap();
    let files = rendering.files();
    let bytes: usize = files.iter().map(|f| f.content.len()).sum();

    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header(vec!["step (median of 15)", "time", "notes"]);
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    table.add_row(vec![
        "parse + index YAML".to_string(),
        ms(median(parse)),
        format!("{} KiB spec", text.len() / 1024),
    ]);
    table.add_row(vec![
        "validate".to_string(),
        ms(median(validate)),
        "50 sites, 200 device types, 2000 metrics".into(),
    ]);
    table.add_row(vec![
        "render all artifacts".to_string(),
        ms(median(render)),
        format!(
            "{} files, {} RisingWave objects, {:.1} MiB",
            files.len(),
            rendering.risingwave.len(),
            bytes as f64 / 1048576.0
        ),
    ]);
    let total = median(total);
    table.add_row(vec![
        "total".to_string(),
        ms(total),
        format!(
            "target < 200 ms: {}",
            if total < Duration::from_millis(200) {
                "met"
            } else {
                "MISSED"
            }
        ),
    ]);

    sqlmesh_load_row(&mut table, &files);
    println!("{table}");
}

fn breakdown(text: &str) {
    let t = Instant::now();
    let _: iotctl::spec::Spec = serde_yaml_ng::from_str(text).unwrap();
    eprintln!("serde_yaml_ng alone: {:?}", t.elapsed());
    let t = Instant::now();
    let _ = iotctl::spec::positions::Positions::index(text);
    eprintln!("positions index: {:?}", t.elapsed());
    let loaded = spec::load::parse("bench.yaml", text.as_bytes()).unwrap();
    let templates = Templates::embedded();
    for _ in 0..2 {
        let t = Instant::now();
        let objects = iotctl::render::risingwave::render(&loaded.spec, &templates).unwrap();
        eprintln!("risingwave: {:?} ({} objects)", t.elapsed(), objects.len());
        let t = Instant::now();
        let _ = iotctl::render::sqlmesh::render(&loaded.spec, &templates).unwrap();
        eprintln!("sqlmesh: {:?}", t.elapsed());
        let t = Instant::now();
        let _ = iotctl::render::contracts::render(&loaded.spec).unwrap();
        eprintln!("contracts: {:?}", t.elapsed());
    }
}

/// How long SQLMesh takes to load the rendered project (for scale next to the above).
fn sqlmesh_load_row(table: &mut comfy_table::Table, files: &[&iotctl::render::Artifact]) {
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    let sqlmesh = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/sqlmesh");
    if sqlmesh.exists() {
        let dir = tempfile::tempdir().unwrap();
        for file in files {
            let path = dir.path().join(&file.path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, &file.content).unwrap();
        }
        let start = Instant::now();
        let status = Command::new(&sqlmesh)
            .arg("info")
            .current_dir(dir.path().join("sqlmesh"))
            .env("SQLMESH__DISABLE_ANONYMIZED_ANALYTICS", "true")
            .output()
            .unwrap();
        let elapsed = start.elapsed();
        table.add_row(vec![
            "sqlmesh info (load project)".to_string(),
            ms(elapsed),
            if status.status.success() {
                "3 models, 2000-row thresholds model".into()
            } else {
                format!(
                    "failed: {}",
                    String::from_utf8_lossy(&status.stderr)
                        .lines()
                        .last()
                        .unwrap_or_default()
                )
            },
        ]);
    } else {
        table.add_row(vec![
            "sqlmesh info (load project)",
            "skipped",
            "no .venv: run scripts/setup.sh",
        ]);
    }
}
