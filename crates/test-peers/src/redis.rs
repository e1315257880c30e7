//! A real `redis-server` per test, on a free port, persisting to its own directory (append-only,
//! fsync on every write) so that a restart on the same port brings the data back.

use std::io::{Read, Write};
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
        Redis::first_start(Redis::new(false))
    }

    /// Starts a new server, on another free port when the chosen one was taken before the server
    /// bound it (another test's connection may hold it: the port was only free when chosen).
    fn first_start(mut r: Redis) -> Redis {
        for _ in 0..5 {
            match r.spawn() {
                Ok(()) => return r,
                Err(why) => {
                    eprintln!("redis-server on port {}: {why}; another port", r.port);
                    r.port = free_port();
                }
            }
        }
        panic!("redis-server did not start on any of 5 ports");
    }

    /// A server that accepts TLS connections only, with a certificate for 127.0.0.1 issued by a
    /// CA of its own ([`ca_file`](Redis::ca_file)).
    pub fn start_tls() -> Redis {
        let r = Redis::new(true);
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
        Redis::first_start(r)
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
        if let Err(why) = self.spawn() {
            panic!(
                "redis-server did not start again on port {}: {why}",
                self.port
            );
        }
    }

    /// Spawns the server and waits until it answers on its port; an error when it exited first.
    fn spawn(&mut self) -> Result<(), String> {
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
        let mut child = command
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
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            // Whoever answers must be this child (a TLS server is only checked alive after).
            let answered = TcpStream::connect(("127.0.0.1", self.port))
                .is_ok_and(|stream| self.tls || is_process(stream, child.id()));
            if let Some(status) = child.try_wait().unwrap() {
                return Err(format!("exited with {status}"));
            }
            if answered {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err("no answer within 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Whether the plain-text server answering on `stream` is process `pid` (not another test's).
fn is_process(mut stream: TcpStream, pid: u32) -> bool {
    let mut answer = Vec::new();
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream.write_all(b"INFO server\r\nQUIT\r\n").is_err() {
        return false;
    }
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).contains(&format!("process_id:{pid}\r\n"))
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}
