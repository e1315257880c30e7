//! A real `redis-server` per test, on a free port, persisting to its own directory (append-only,
//! fsync on every write) so that a restart on the same port brings the data back.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Redis {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// Speaks TLS only (`ca.pem`, `redis.pem`, `redis.key` in its directory).
    tls: bool,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Redis {
    fn new(tls: bool) -> Redis {
        Redis {
            port: free_port(),
            dir: tempfile::tempdir().unwrap(),
            child: None,
            tls,
        }
    }

    pub fn start() -> Redis {
        let mut r = Redis::new(false);
        r.resume();
        r
    }

    /// A server that accepts TLS connections only, with a certificate for 127.0.0.1 issued by a
    /// CA of its own ([`ca_file`](Redis::ca_file)).
    pub fn start_tls() -> Redis {
        let mut r = Redis::new(true);
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "redis test CA");
        let ca =
            rcgen::CertifiedIssuer::self_signed(ca, rcgen::KeyPair::generate().unwrap()).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        std::fs::write(r.path().join("ca.pem"), ca.as_ref().pem()).unwrap();
        std::fs::write(r.path().join("redis.pem"), leaf.pem()).unwrap();
        std::fs::write(r.path().join("redis.key"), key.serialize_pem()).unwrap();
        r.resume();
        r
    }

    /// The CA that issued a TLS server's certificate (PEM).
    pub fn ca_file(&self) -> PathBuf {
        self.path().join("ca.pem")
    }

    /// `redis://127.0.0.1:port/0` (`rediss://` for a TLS server).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}/0", self.port)
    }

    fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Kills the server (SIGKILL: an outage, not a shutdown).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server again on its port, with its data.
    pub fn resume(&mut self) {
        let mut command = Command::new("redis-server");
        if self.tls {
            let file = |name: &str| self.path().join(name).display().to_string();
            command
                .args(["--port", "0", "--tls-port", &self.port.to_string()])
                .args(["--tls-cert-file", &file("redis.pem")])
                .args(["--tls-key-file", &file("redis.key")])
                .args(["--tls-ca-cert-file", &file("ca.pem")])
                .args(["--tls-auth-clients", "no"]);
        } else {
            command.args(["--port", &self.port.to_string()]);
        }
        let child = command
            .args(["--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(self.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (the test command installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}
