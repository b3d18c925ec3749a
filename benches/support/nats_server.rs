//! A nats-server with JetStream on a free loopback port and a temp store, for the benches
//! (they cannot import the test harness). Killed on drop.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct BenchNats {
    pub url: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl BenchNats {
    pub fn start(binary: &Path) -> BenchNats {
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(binary)
            .args(["-js", "-a", "127.0.0.1", "-p", "-1", "--ports_file_dir"])
            .arg(dir.path())
            .arg("-sd")
            .arg(dir.path().join("store"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let ports = dir.path().join(format!("nats-server_{}.ports", child.id()));
        let url = loop {
            if let Ok(text) = std::fs::read_to_string(&ports)
                && let Ok(value) = serde_json::from_str::<serde_json::Value>(&text)
            {
                break value["nats"][0].as_str().unwrap().to_string();
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        BenchNats { url, child, _dir: dir }
    }
}

impl Drop for BenchNats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
