//! `manifest.json`: every artifact with its content hash, and the RisingWave objects in order.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::Artifact;
use super::risingwave::{RwObject, StateBound};

pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Serialize)]
struct Entry<'a> {
    path: &'a str,
    sha256: String,
    bytes: usize,
}

#[derive(Serialize)]
struct ObjectEntry<'a> {
    name: &'a str,
    kind: &'static str,
    file: &'a str,
    depends_on: &'a [String],
    /// What the object keeps as it runs, and what bounds it.
    state: StateBound,
}

#[derive(Serialize)]
struct Manifest<'a> {
    pipeline: &'a str,
    contract_version: u32,
    artifacts: Vec<Entry<'a>>,
    risingwave_objects: Vec<ObjectEntry<'a>>,
}

/// The manifest for `artifacts`; `objects[i]` was written to `object_files[i]`.
pub fn render(
    pipeline: &str,
    contract_version: u32,
    artifacts: &[Artifact],
    objects: &[RwObject],
    object_files: &[String],
) -> anyhow::Result<Artifact> {
    let manifest = Manifest {
        pipeline,
        contract_version,
        artifacts: artifacts
            .iter()
            .map(|a| Entry {
                path: &a.path,
                sha256: sha256_hex(a.content.as_bytes()),
                bytes: a.content.len(),
            })
            .collect(),
        risingwave_objects: objects
            .iter()
            .zip(object_files)
            .map(|(o, file)| ObjectEntry {
                name: &o.name,
                kind: o.kind.as_str(),
                file,
                depends_on: &o.depends_on,
                state: o.state,
            })
            .collect(),
    };
    Ok(Artifact::new(
        "manifest.json",
        serde_json::to_string_pretty(&manifest)? + "\n",
    ))
}
