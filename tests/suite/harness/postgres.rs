//! A throwaway PostgreSQL: initdb on a temp dir, a free loopback port, killed on drop.
//! PostgreSQL refuses to run as root, so under root it runs as the `postgres` user that
//! Debian's package creates.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::tools::{free_port, is_root, pg_bin, run_ok};

pub struct TestPostgres {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

pub const USER: &str = "iotctl";
pub const PASSWORD: &str = "test-secret-9f2c";
pub const DATABASE: &str = "iot";

fn as_server_user(program: &Path) -> Command {
    if is_root() {
        // setpriv execs in place (unlike runuser), so the child we hold is the server itself.
        let mut command = Command::new("setpriv");
        command
            .args(["--reuid=postgres", "--regid=postgres", "--init-groups"])
            .arg(program);
        command
    } else {
        Command::new(program)
    }
}

impl TestPostgres {
    /// Starts a server with a role `iotctl` (password auth) owning database `iot`.
    pub fn start() -> TestPostgres {
        let dir = tempfile::Builder::new().prefix("iotctl-pg-").tempdir().unwrap();
        let data = dir.path().join("data");
        let socket = dir.path().join("socket");
        std::fs::create_dir_all(&socket).unwrap();
        if is_root() {
            run_ok(Command::new("chown").args(["-R", "postgres"]).arg(dir.path()));
        }
        run_ok(
            as_server_user(&pg_bin("initdb"))
                .arg("-D")
                .arg(&data)
                .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
                .stdout(Stdio::null()),
        );
        // Password auth over TCP for the iotctl role, as a real warehouse would require.
        let hba = data.join("pg_hba.conf");
        std::fs::write(
            &hba,
            "local all all trust\nhost all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n",
        )
        .unwrap();
        let port = free_port();
        let child = as_server_user(&pg_bin("postgres"))
            .arg("-D")
            .arg(&data)
            .args([
                "-p",
                &port.to_string(),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ])
            .arg("-k")
            .arg(&socket)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("postgres starts");
        let server = TestPostgres { port, child, _dir: dir };
        server.wait_ready();
        server.psql_admin(&format!("CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'"));
        server.psql_admin(&format!("CREATE DATABASE {DATABASE} OWNER {USER}"));
        server
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = Command::new("psql")
                .arg(self.admin_url())
                .args(["-Atqc", "SELECT 1"])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "PostgreSQL on port {} did not become ready",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn admin_url(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The iotctl role's connection URL.
    pub fn url(&self) -> String {
        format!("postgresql://{USER}:{PASSWORD}@127.0.0.1:{}/{DATABASE}", self.port)
    }

    fn psql_admin(&self, sql: &str) {
        run_ok(
            Command::new("psql")
                .arg(self.admin_url())
                .args(["-v", "ON_ERROR_STOP=1", "-qc", sql]),
        );
    }

    /// Runs psql as the iotctl role with ON_ERROR_STOP and returns stdout (unaligned, tuples only).
    pub fn psql(&self, args: &[&str]) -> String {
        let output = run_ok(
            Command::new("psql")
                .arg(self.url())
                .args(["-v", "ON_ERROR_STOP=1", "-Atq"])
                .args(args),
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Env vars the rendered SQLMesh config reads for its postgres gateway.
    pub fn sqlmesh_env(&self, password_env: &str) -> Vec<(String, String)> {
        vec![
            ("IOTCTL_WAREHOUSE_HOST".into(), "127.0.0.1".into()),
            ("IOTCTL_WAREHOUSE_PORT".into(), self.port.to_string()),
            ("IOTCTL_WAREHOUSE_USER".into(), USER.into()),
            ("IOTCTL_WAREHOUSE_DATABASE".into(), DATABASE.into()),
            (password_env.into(), PASSWORD.into()),
            // The throwaway server has no TLS; a spec may require it (cold_chain does).
            ("IOTCTL_WAREHOUSE_SSLMODE".into(), "disable".into()),
        ]
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        // SIGTERM via kill(1): a smart shutdown; the temp dir goes after it exits.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
