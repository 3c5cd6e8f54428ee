//! A throw-away OCI registry (CNCF distribution, `docker-registry`) bound to
//! a free loopback port, for tests.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// Path of the registry binary shipped by the Debian `docker-registry` package.
pub const REGISTRY_BINARY: &str = "/usr/bin/docker-registry";

/// How long to wait for the registry to answer on `/v2/`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(15);

/// A running registry process. It is killed, and its storage removed, when
/// the value is dropped.
pub struct TestRegistry {
    child: Child,
    address: String,
    dir: tempfile::TempDir,
}

impl TestRegistry {
    /// Starts a registry on `127.0.0.1:<free port>` using `/usr/bin/docker-registry`
    /// (or the binary named by `DEVHOST_REGISTRY_BIN`).
    ///
    /// The registry binds port 0 and the port it got is read from its log, so
    /// registries started concurrently never race for a port.
    pub fn start() -> Result<TestRegistry> {
        let binary =
            std::env::var("DEVHOST_REGISTRY_BIN").unwrap_or_else(|_| REGISTRY_BINARY.to_string());
        let dir = tempfile::Builder::new()
            .prefix("devhost-registry-")
            .tempdir()
            .context("cannot create the registry directory")?;
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            registry_config(&dir.path().join("storage"), "127.0.0.1:0"),
        )?;
        let log_path = dir.path().join("registry.log");
        let log = std::fs::File::create(&log_path)?;

        let child = Command::new(&binary)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot run {binary}"))?;
        let mut registry = TestRegistry {
            child,
            address: String::new(),
            dir,
        };
        registry.wait_ready(&log_path)?;
        Ok(registry)
    }

    fn wait_ready(&mut self, log_path: &Path) -> Result<()> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "the registry exited with {status} before answering; log:\n{}",
                    log_tail(log_path)
                );
            }
            if self.address.is_empty() {
                if let Some(address) = listening_address(log_path) {
                    self.address = address;
                }
            }
            if !self.address.is_empty() && v2_answers(&self.address) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "the registry did not answer on /v2/ within {:?}; log:\n{}",
                    STARTUP_TIMEOUT,
                    log_tail(log_path)
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// `127.0.0.1:PORT`, to be used as the registry part of image references.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The directory holding the configuration, the storage and `registry.log`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The process id of the registry.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The distribution configuration used by [`TestRegistry`] and by `scripts/registry.sh`.
pub fn registry_config(storage: &Path, address: &str) -> String {
    format!(
        "version: 0.1\n\
         log:\n  level: info\n  accesslog:\n    disabled: true\n\
         storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
         http:\n  addr: {}\n  secret: devhost-local-registry\n",
        storage.display(),
        address
    )
}

/// The address from the registry's `listening on 127.0.0.1:PORT` log line.
fn listening_address(log_path: &Path) -> Option<String> {
    let log = std::fs::read_to_string(log_path).ok()?;
    let rest = log.split("listening on ").nth(1)?;
    let address: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
        .collect();
    address.contains(':').then_some(address)
}

/// True when `GET /v2/` answers with HTTP 200.
fn v2_answers(address: &str) -> bool {
    let attempt = || -> std::io::Result<bool> {
        let mut stream = TcpStream::connect(address)?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        stream.set_write_timeout(Some(Duration::from_secs(2)))?;
        write!(
            stream,
            "GET /v2/ HTTP/1.0\r\nHost: {address}\r\nConnection: close\r\n\r\n"
        )?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head)?;
        Ok(head.starts_with(b"HTTP/1.") && &head[9..12] == b"200")
    };
    attempt().unwrap_or(false)
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(20);
    lines[start..].join("\n")
}
