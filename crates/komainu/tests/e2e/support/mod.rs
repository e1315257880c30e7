//! Test harness: runs the real `komainu` binary on ephemeral ports and talks to it over HTTP.

pub mod browser;
pub mod inbox;
pub mod raw;
pub mod tls;
pub mod upstream;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::Value;

pub const ADMIN_ID: &str = "test-admin";
pub const ADMIN_SECRET: &str = "test-admin-secret-0123456789";

/// The gateway under test: `KOMAINU_BIN` when set (the test command points it at the optimised,
/// `panic = "abort"` build, so attacks meet the binary as it ships), else this test build's.
pub fn bin() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        std::env::var("KOMAINU_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_komainu").to_string())
    })
}

/// The first CPU this process may run on (`Cpus_allowed_list` of /proc/self/status).
fn first_allowed_cpu() -> String {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .expect("Cpus_allowed_list");
    list.trim()
        .split([',', '-'])
        .next()
        .expect("a CPU")
        .to_string()
}

/// A running gateway process and its data directory.
pub struct Gateway {
    child: Child,
    pub admin: String,
    pub proxy: String,
    /// `https://127.0.0.1:port` of the TLS listener.
    pub https: String,
    /// `http://127.0.0.1:port` of the developer portal.
    pub portal: String,
    pub data_dir: PathBuf,
    _owned_dir: Option<tempfile::TempDir>,
    /// Everything the process wrote on standard error so far.
    pub stderr: Arc<Mutex<String>>,
    /// Everything the process wrote on standard output so far (the access log).
    pub stdout: Arc<Mutex<String>>,
    pub client: Client,
    pub credentials: Option<(String, String)>,
}

pub struct Options {
    pub env_credentials: bool,
    pub extra_args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Run the process on one CPU (`taskset`), as a one-core container would.
    pub one_core: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            env_credentials: true,
            extra_args: Vec::new(),
            env: Vec::new(),
            one_core: false,
        }
    }
}

impl Gateway {
    /// A gateway on a fresh data directory.
    pub fn start() -> Gateway {
        Gateway::start_with(Options::default())
    }

    /// A gateway whose remote fetches (documentation, OpenAPI URLs, JWKS) may reach this
    /// machine's addresses: the tests' peers listen on loopback.
    pub fn start_fetching_loopback() -> Gateway {
        Gateway::start_with(Options {
            extra_args: vec!["--portal-fetch-private".into()],
            ..Options::default()
        })
    }

    pub fn start_with(options: Options) -> Gateway {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().to_path_buf();
        let mut gw = Gateway::spawn(&path, options);
        gw._owned_dir = Some(dir);
        gw
    }

    /// A gateway on an existing data directory.
    pub fn start_in(dir: &Path, options: Options) -> Gateway {
        Gateway::spawn(dir, options)
    }

    fn spawn(dir: &Path, options: Options) -> Gateway {
        let mut cmd = if options.one_core {
            let mut c = Command::new("taskset");
            c.args(["-c", &first_allowed_cpu(), bin()]);
            c
        } else {
            Command::new(bin())
        };
        cmd.args([
            "serve",
            "--admin-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
        ])
        .args([
            "--https-addr",
            "127.0.0.1:0",
            "--portal-addr",
            "127.0.0.1:0",
        ])
        .args(&options.extra_args)
        .env("KOMAINU_DATA_DIR", dir)
        .env_remove("KOMAINU_ADMIN_CLIENT_ID")
        .env_remove("KOMAINU_ADMIN_CLIENT_SECRET")
        .env("KOMAINU_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        if options.env_credentials {
            cmd.env("KOMAINU_ADMIN_CLIENT_ID", ADMIN_ID)
                .env("KOMAINU_ADMIN_CLIENT_SECRET", ADMIN_SECRET);
        }
        for (k, v) in &options.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start komainu");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel::<String>();
        let pipe = child.stderr.take().expect("stderr");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                sink.lock().unwrap().push_str(&line);
                sink.lock().unwrap().push('\n');
                let _ = tx.send(line);
            }
        });
        let stdout = Arc::new(Mutex::new(String::new()));
        let out_pipe = child.stdout.take().expect("stdout");
        let out_sink = stdout.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out_pipe).lines().map_while(Result::ok) {
                let mut s = out_sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let (mut admin, mut proxy, mut https, mut portal) = (None, None, None, None);
        let deadline = Instant::now() + Duration::from_secs(20);
        while admin.is_none() || proxy.is_none() || https.is_none() || portal.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = rx.recv_timeout(left) else {
                let _ = child.kill();
                panic!("gateway did not start:\n{}", stderr.lock().unwrap());
            };
            if let Some(addr) = listening(&line, "admin API listening") {
                admin = Some(format!("http://{addr}"));
            }
            if let Some(addr) = listening(&line, "proxy listening") {
                proxy = Some(format!("http://{addr}"));
            }
            if let Some(addr) = listening(&line, "https listening") {
                https = Some(format!("https://{addr}"));
            }
            if let Some(addr) = listening(&line, "portal listening") {
                portal = Some(format!("http://{addr}"));
            }
        }
        let credentials = options
            .env_credentials
            .then(|| (ADMIN_ID.to_string(), ADMIN_SECRET.to_string()));
        Gateway {
            child,
            admin: admin.unwrap(),
            proxy: proxy.unwrap(),
            https: https.unwrap(),
            portal: portal.unwrap(),
            data_dir: dir.to_path_buf(),
            _owned_dir: None,
            stderr,
            stdout,
            client: Client::builder()
                .timeout(Duration::from_secs(30))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            credentials,
        }
    }

    /// Stops the process with SIGKILL: no chance to flush anything.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the process with SIGTERM and waits for its exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        self.child.wait().expect("wait")
    }

    /// Everything logged so far, once it holds `needle` (the log is written by a thread of its
    /// own: a line shows up shortly after what caused it).
    pub fn wait_log(&self, needle: &str) -> String {
        let started = Instant::now();
        loop {
            let log = self.stderr.lock().unwrap().clone();
            if log.contains(needle) {
                return log;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "never logged {needle:?}:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to exit by itself.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        self.child.wait().expect("wait")
    }

    /// Takes the data directory away so it outlives this process (for restarts).
    pub fn keep_dir(&mut self) -> tempfile::TempDir {
        self._owned_dir.take().expect("owned dir")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.admin, path)
    }

    pub fn authed(&self, rb: RequestBuilder) -> RequestBuilder {
        match &self.credentials {
            Some((id, secret)) => rb.basic_auth(id, Some(secret)),
            None => rb,
        }
    }

    pub fn get(&self, path: &str) -> Response {
        self.authed(self.client.get(self.url(path)))
            .send()
            .expect("GET")
    }

    pub fn post(&self, path: &str, body: &Value) -> Response {
        self.authed(self.client.post(self.url(path)))
            .json(body)
            .send()
            .expect("POST")
    }

    pub fn put(&self, path: &str, body: &Value) -> Response {
        self.authed(self.client.put(self.url(path)))
            .json(body)
            .send()
            .expect("PUT")
    }

    pub fn patch(&self, path: &str, body: &Value) -> Response {
        self.authed(self.client.patch(self.url(path)))
            .json(body)
            .send()
            .expect("PATCH")
    }

    pub fn delete(&self, path: &str) -> Response {
        self.authed(self.client.delete(self.url(path)))
            .send()
            .expect("DELETE")
    }

    /// A request to the proxy for `host` and `path`.
    pub fn call(&self, method: reqwest::Method, host: &str, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{}", self.proxy, path))
            .header("host", host)
    }

    /// `GET` through the proxy.
    pub fn proxy_get(&self, host: &str, path: &str) -> Response {
        self.call(reqwest::Method::GET, host, path)
            .send()
            .expect("proxy GET")
    }

    /// Polls `GET host/path` through the proxy until its status is `status` (config changes apply
    /// asynchronously); returns the time it took.
    pub fn wait_status(&self, host: &str, path: &str, status: u16) -> Duration {
        let started = Instant::now();
        loop {
            let got = self.proxy_get(host, path).status().as_u16();
            if got == status {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{host}{path}: still {got}, wanted {status}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Creates (POST) an entity and asserts it was accepted.
    pub fn create(&self, plural: &str, doc: &Value) -> Value {
        let (status, body) = json(self.post(&format!("/api/{plural}"), doc));
        assert_eq!(status, 201, "creating {plural}: {body}");
        body
    }

    /// The Prometheus text of `GET /metrics` (no credentials needed).
    pub fn metrics(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .send()
            .expect("GET /metrics")
            .text()
            .expect("metrics text")
    }

    /// The value of one series of `GET /metrics` (see [`series`]), if present.
    pub fn metric(&self, name_and_labels: &str) -> Option<f64> {
        series(&self.metrics(), name_and_labels)
    }

    /// Waits until one series of `GET /metrics` reads `value`.
    pub fn wait_metric(&self, name_and_labels: &str, value: f64) {
        until(&format!("{name_and_labels} = {value}"), || {
            (self.metric(name_and_labels) == Some(value)).then_some(())
        })
    }

    /// The gateway's peak resident memory so far, in KiB (VmHWM).
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap()
    }

    /// The gateway's resident memory now, in KiB (VmRSS).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap()
    }

    /// A request with the admin credentials, for what the helpers above do not cover.
    pub fn request(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        self.authed(self.client.request(method, self.url(path)))
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn listening<'a>(line: &'a str, what: &str) -> Option<&'a str> {
    if !line.contains(what) {
        return None;
    }
    let rest = &line[line.find("addr=")? + 5..];
    Some(rest.split_whitespace().next().unwrap_or(rest))
}

/// A self-signed certificate for `host` and its key, as PEM: what a certificate document needs.
pub fn self_signed_pem(host: &str) -> (String, String) {
    let cert = rcgen::generate_simple_self_signed(vec![host.to_string()]).expect("rcgen");
    (cert.cert.pem(), cert.signing_key.serialize_pem())
}

/// The value of the series `name{labels}` (labels as printed, in order) in a Prometheus text.
pub fn series(metrics: &str, name_and_labels: &str) -> Option<f64> {
    metrics.lines().find_map(|l| {
        l.strip_prefix(name_and_labels)
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
    })
}

/// Polls `f` until it gives a value; fails after 15 s, naming `what` it waited for.
pub fn until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Status and JSON body of a response.
pub fn json(resp: Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// The `details[].path` of an error body.
pub fn error_paths(body: &Value) -> Vec<String> {
    body["details"]
        .as_array()
        .map(|d| {
            d.iter()
                .map(|e| e["path"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Runs the binary to completion with `args`, returning (success, stdout, stderr).
pub fn run_cli(args: &[&str], data_dir: &Path) -> (bool, String, String) {
    let out = Command::new(bin())
        .args(args)
        .env("KOMAINU_DATA_DIR", data_dir)
        .output()
        .expect("run komainu");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A published keyless plan: what lets an API answer calls without credentials (an API whose
/// flows name no plans enforces all of its plans, and with none it refuses every call).
pub fn keyless_plan() -> Value {
    serde_json::json!({"id": "open", "name": "Open", "status": "published",
                       "access_mode_configuration_type": "keyless"})
}
