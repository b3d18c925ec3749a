//! Golden files: every artifact of every example, byte for byte. CI never writes them;
//! after an intended change run `scripts/bless.sh` and review the diff.

use std::collections::BTreeSet;
use std::path::Path;

use crate::common::{EXAMPLES, render_example, root};

fn files_under(dir: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap_or_else(|e| panic!("{}: {e}", current.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.insert(path.strip_prefix(dir).unwrap().to_string_lossy().replace('\\', "/"));
            }
        }
    }
    found
}

fn first_difference(expected: &str, actual: &str) -> String {
    for (i, (e, a)) in expected.lines().zip(actual.lines()).enumerate() {
        if e != a {
            return format!("line {}:\n  golden:   {e}\n  rendered: {a}", i + 1);
        }
    }
    format!(
        "lengths differ: golden {} lines, rendered {} lines",
        expected.lines().count(),
        actual.lines().count()
    )
}

#[test]
fn every_rendered_artifact_matches_its_golden_file() {
    let mut problems = Vec::new();
    for example in EXAMPLES {
        let (_, rendering) = render_example(example);
        let golden = root().join("tests/golden").join(example);
        let on_disk = files_under(&golden);
        let rendered: BTreeSet<String> = rendering.files().iter().map(|a| a.path.clone()).collect();
        for missing in rendered.difference(&on_disk) {
            problems.push(format!("{example}: no golden file for {missing}"));
        }
        for extra in on_disk.difference(&rendered) {
            problems.push(format!("{example}: golden file {extra} is no longer rendered"));
        }
        for artifact in rendering.files() {
            if let Ok(expected) = std::fs::read_to_string(golden.join(&artifact.path))
                && expected != artifact.content
            {
                problems.push(format!(
                    "{example}/{}: {}",
                    artifact.path,
                    first_difference(&expected, &artifact.content)
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "rendered output drifted from tests/golden (run scripts/bless.sh if intended):\n{}",
        problems.join("\n")
    );
}

#[test]
fn committed_contracts_are_in_sync_with_the_examples() {
    for example in EXAMPLES {
        let (_, rendering) = render_example(example);
        let dir = root().join("contracts").join(example);
        let contracts: Vec<_> = rendering
            .artifacts
            .iter()
            .filter(|a| a.path.starts_with("contracts/"))
            .collect();
        assert_eq!(contracts.len(), 4);
        let on_disk = files_under(&dir);
        assert_eq!(on_disk.len(), contracts.len(), "contracts/{example} holds {on_disk:?}");
        for artifact in contracts {
            let name = artifact.path.trim_start_matches("contracts/");
            let committed = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
            assert_eq!(
                committed, artifact.content,
                "contracts/{example}/{name} is stale: run scripts/bless.sh"
            );
        }
    }
}

#[test]
fn rendering_is_deterministic() {
    for example in EXAMPLES {
        let (_, first) = render_example(example);
        let (_, second) = render_example(example);
        let a: Vec<_> = first
            .files()
            .iter()
            .map(|f| (f.path.clone(), f.content.clone()))
            .collect();
        let b: Vec<_> = second
            .files()
            .iter()
            .map(|f| (f.path.clone(), f.content.clone()))
            .collect();
        assert_eq!(a, b);
    }
}
