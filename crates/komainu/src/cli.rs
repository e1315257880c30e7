//! Command-line interface; every flag can also be set through its environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "komainu",
    version,
    about = "Komainu: API gateway and API management",
    after_help = "Each command has its own flags: `komainu serve --help` lists the gateway's (listeners, \
                  limits, timeouts, trusted proxies, ...). Every flag also reads an environment variable \
                  (KOMAINU_ + the flag in upper snake case)."
)]
pub struct Cli {
    #[command(flatten)]
    pub storage: StorageArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Where the state lives.
#[derive(Args)]
pub struct StorageArgs {
    /// Directory of the embedded store.
    #[arg(
        long,
        env = "KOMAINU_DATA_DIR",
        default_value = "./komainu-data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// Store engine: `embedded`, or a `redis://host:port/db` URL (`rediss://` for TLS).
    #[arg(long, env = "KOMAINU_STORE", default_value = "embedded", global = true)]
    pub store: String,
    /// PEM file of the CA that signs the Redis server's certificate (`rediss://`), instead of the
    /// public roots.
    #[arg(long, env = "KOMAINU_STORE_CA", global = true)]
    pub store_ca: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the gateway: the proxy (HTTP and TLS), the admin API with the admin UI at `/ui/`
    /// (`--admin-addr`), and the developer portal (`--portal-addr`).
    #[command(
        after_help = "The admin API and the admin UI take the admin credentials from \
        KOMAINU_ADMIN_CLIENT_ID and KOMAINU_ADMIN_CLIENT_SECRET; without them, a pair is generated \
        at the first start and printed once on standard error. The admin UI is at \
        http://<admin-addr>/ui/, the developer portal at http://<portal-addr>/. Every flag also \
        reads its environment variable: KOMAINU_ + the flag in upper snake case."
    )]
    Serve(Box<ServeArgs>),
    /// Load every entity of an export document (JSON or YAML) into the store.
    Import {
        /// The export document.
        file: PathBuf,
        /// Delete stored entities the document does not hold.
        #[arg(long)]
        replace: bool,
    },
    /// Work with OpenAPI documents.
    #[command(subcommand)]
    Openapi(OpenapiCommand),
    /// A worker of the sandbox: runs jq jobs from standard input (started by `serve`).
    #[command(hide = true)]
    SandboxWorker {
        /// Bytes of a job's output at most.
        #[arg(long)]
        max_output: usize,
    },
    /// Write every stored entity as one document.
    Export {
        /// File to write (standard output when absent).
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Write YAML instead of JSON.
        #[arg(long)]
        yaml: bool,
    },
}

#[derive(Subcommand)]
pub enum OpenapiCommand {
    /// Create an API (in staging) from an OpenAPI 3.x or Swagger 2.0 document, JSON or YAML.
    Import(OpenapiImport),
}

#[derive(Args)]
pub struct OpenapiImport {
    /// The OpenAPI document (`.yaml` / `.yml` read as YAML).
    pub file: PathBuf,
    /// Domain the API is served on.
    #[arg(long, default_value = "")]
    pub domain: String,
    /// Path prefix of every route of the API.
    #[arg(long, default_value = "")]
    pub context_path: String,
    /// Id of the API (default: `api_` + the document's title).
    #[arg(long)]
    pub id: Option<String>,
    /// The backend's URL: overrides the document's servers (needed when they are relative).
    #[arg(long)]
    pub backend: Option<String>,
    /// Replace an existing API with the same id (otherwise refused).
    #[arg(long)]
    pub replace: bool,
    /// The largest document read.
    #[arg(long, env = "KOMAINU_OPENAPI_MAX_BYTES", default_value_t = komainu_admin::OPENAPI_LIMIT)]
    pub max_bytes: usize,
}

#[derive(Args)]
pub struct ServeArgs {
    /// Proxy listener, plain HTTP.
    #[arg(long, env = "KOMAINU_HTTP_ADDR", default_value = "0.0.0.0:8080")]
    pub http_addr: SocketAddr,
    /// Proxy listener, TLS 1.2/1.3 with ALPN h2 and http/1.1 (a default certificate is generated
    /// at first start when none is stored).
    #[arg(long, env = "KOMAINU_HTTPS_ADDR", default_value = "0.0.0.0:8443")]
    pub https_addr: SocketAddr,
    /// Client certificates on the TLS listener: none, want, need, or auto (want when
    /// tlsSettings.trustedCAsServer names a CA, or as tlsSettings.clientAuth says; else none).
    #[arg(long, env = "KOMAINU_TLS_CLIENT_AUTH", default_value = "auto", value_parser = parse_client_auth)]
    pub tls_client_auth: komainu_tls::ClientAuthMode,
    /// Admin API, health and metrics listener.
    #[arg(long, env = "KOMAINU_ADMIN_ADDR", default_value = "127.0.0.1:9000")]
    pub admin_addr: SocketAddr,
    /// Developer portal listener (published, documented APIs; developer accounts; subscriptions).
    #[arg(long, env = "KOMAINU_PORTAL_ADDR", default_value = "0.0.0.0:8081")]
    pub portal_addr: SocketAddr,
    /// Whether anyone may create a developer account on the portal.
    #[arg(long, env = "KOMAINU_PORTAL_SIGNUP", default_value_t = true, action = clap::ArgAction::Set)]
    pub portal_signup: bool,
    /// The gateway's URL as developers reach it, for the portal's examples and "try it"
    /// (default: `http://localhost:<port of --http-addr>`).
    #[arg(long, env = "KOMAINU_PORTAL_GATEWAY_URL")]
    pub portal_gateway_url: Option<String>,
    /// The developer portal's URL as developers reach it, for links it hands out: e-mails and the
    /// `Link` of a deprecated API's responses (default: `http://localhost:<port of --portal-addr>`).
    #[arg(long, env = "KOMAINU_PORTAL_URL")]
    pub portal_url: Option<String>,
    /// The largest OpenAPI document imported (posted or fetched by URL) or stored as an
    /// `ApiDocument`.
    #[arg(long, env = "KOMAINU_OPENAPI_MAX_BYTES", default_value_t = komainu_admin::OPENAPI_LIMIT)]
    pub openapi_max_bytes: usize,
    /// Where developers' notifications are POSTed, one JSON document each (subscription approved
    /// or rejected, key rotated, API deprecated or removed, quota at 80% and 100%).
    #[arg(long, env = "KOMAINU_NOTIFY_WEBHOOK")]
    pub notify_webhook: Option<String>,
    /// The SMTP server developers' e-mails go through: `smtp://host:port` (unencrypted; add
    /// `?tls=required` for STARTTLS) or `smtps://user:pass@host:port`. Needs --smtp-from.
    #[arg(long, env = "KOMAINU_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The sender of developers' e-mails (`Komainu <apis@example.com>`).
    #[arg(long, env = "KOMAINU_SMTP_FROM")]
    pub smtp_from: Option<String>,
    /// Declarative file of entities (an export document), loaded at start and on change.
    #[arg(long, env = "KOMAINU_CONFIG")]
    pub config: Option<PathBuf>,
    /// Also serve a demo API: `curl localhost:8080/demo/hello`.
    #[arg(long, env = "KOMAINU_DEMO")]
    pub demo: bool,
    /// Write one JSON line per proxied request on standard output.
    #[arg(long, env = "KOMAINU_ACCESS_LOG")]
    pub access_log: bool,
    /// How this node names itself in `/api/cluster/members` (default: host name and proxy port).
    #[arg(long, env = "KOMAINU_NODE_ID")]
    pub node_id: Option<String>,
    /// Where gateway, admin and security events go: `file:PATH` (JSON lines, rotated at 100 MiB,
    /// 5 files kept) or `http(s)://URL` (JSON arrays POSTed in batches, retried).
    #[arg(long, env = "KOMAINU_EVENTS")]
    pub events: Option<komainu_observe::Destination>,
    /// Events held in memory while the destination is slow or down; more are dropped and counted.
    #[arg(long, env = "KOMAINU_EVENTS_BUFFER", default_value_t = 10_000)]
    pub events_buffer: usize,
    /// The most of each request and response body a `capture` API's events hold.
    #[arg(long, env = "KOMAINU_CAPTURE_MAX_BYTES", default_value_t = 4096)]
    pub capture_max_bytes: usize,
    /// Export request spans over OTLP/HTTP (protobuf) to this collector (`http://host:4318`).
    /// With it, W3C `traceparent` is read, continued and sent upstream.
    #[arg(long, env = "KOMAINU_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
    /// Share of new traces sampled (0.0 to 1.0); a client's `traceparent` flag is followed.
    #[arg(long, env = "KOMAINU_TRACE_SAMPLING", default_value_t = 0.01)]
    pub trace_sampling: f64,
    /// Seconds in-flight requests get to finish after SIGTERM.
    #[arg(long, env = "KOMAINU_DRAIN_TIMEOUT", default_value_t = 30)]
    pub drain_timeout: u64,
    /// Networks (CIDRs, comma separated) whose X-Forwarded-For / X-Forwarded-Proto are believed.
    #[arg(long, env = "KOMAINU_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_cidr)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub sandbox: SandboxArgs,
    #[command(flatten)]
    pub fetch: FetchArgs,
    /// Time zone of daily and monthly quota windows (an IANA name: UTC, Europe/Paris, ...).
    #[arg(long, env = "KOMAINU_QUOTAS_TIMEZONE", default_value = "UTC")]
    pub quotas_timezone: chrono_tz::Tz,
    /// Serve PUT /api/_testing/clock to shift the quota and rotation clock (tests only).
    #[arg(long, env = "KOMAINU_TESTING_CLOCK", hide = true)]
    pub testing_clock: bool,
}

impl ServeArgs {
    /// Where notifications go, checked.
    pub fn notify(&self) -> anyhow::Result<komainu_notify::Config> {
        if let Some(url) = &self.notify_webhook
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            anyhow::bail!("--notify-webhook: expected an http:// or https:// URL");
        }
        let mail = match (&self.smtp_url, &self.smtp_from) {
            (Some(url), Some(from)) => Some(komainu_notify::MailConfig {
                url: url.clone(),
                from: from.clone(),
            }),
            (None, None) => None,
            _ => anyhow::bail!("--smtp-url and --smtp-from go together"),
        };
        Ok(komainu_notify::Config {
            webhook: self.notify_webhook.clone(),
            mail,
        })
    }
}

/// What bounds every client connection of the proxy listeners.
#[derive(Args)]
pub struct LimitArgs {
    /// Seconds a client has to send a whole request head (from its first byte; the first
    /// request of a connection counts from the accept).
    #[arg(long, env = "KOMAINU_HEADER_READ_TIMEOUT", default_value_t = 10.0)]
    pub header_read_timeout: f64,
    /// Seconds a request body may stay silent while the gateway waits for it.
    #[arg(long, env = "KOMAINU_BODY_READ_TIMEOUT", default_value_t = 60.0)]
    pub body_read_timeout: f64,
    /// Seconds a kept-alive connection may wait idle for its next request.
    #[arg(long, env = "KOMAINU_KEEPALIVE_TIMEOUT", default_value_t = 75.0)]
    pub keepalive_timeout: f64,
    /// Open client connections at most; over it new connections get a 503 (default 10,000, or
    /// what the open-file limit allows when it is lower).
    #[arg(long, env = "KOMAINU_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Bytes of a request head at most (431 beyond).
    #[arg(long, env = "KOMAINU_MAX_HEADER_BYTES", default_value_t = 32 * 1024)]
    pub max_header_bytes: usize,
    /// Header fields of a request at most (431 beyond).
    #[arg(long, env = "KOMAINU_MAX_HEADERS", default_value_t = 100)]
    pub max_headers: usize,
    /// Bytes of a request target at most (414 beyond).
    #[arg(long, env = "KOMAINU_MAX_URI_BYTES", default_value_t = 8 * 1024)]
    pub max_uri_bytes: usize,
    /// Bytes of a request body at most, where a route does not say (413 beyond; 0: no limit).
    #[arg(long, env = "KOMAINU_MAX_REQUEST_BODY", default_value_t = 100 * 1024 * 1024)]
    pub max_request_body: u64,
    /// Concurrent streams of one HTTP/2 connection at most.
    #[arg(long, env = "KOMAINU_H2_MAX_STREAMS", default_value_t = 250)]
    pub h2_max_streams: u32,
    /// Counters of the limit plugins one route may hold (one per distinct value of an expression
    /// such as `${req.ip}`); past it the route evicts its own least counted.
    #[arg(
        long,
        env = "KOMAINU_LIMIT_COUNTERS_PER_ROUTE",
        default_value_t = 100_000
    )]
    pub limit_counters_per_route: usize,
    /// Counters of the limit plugins held in all; past it the route holding the most evicts.
    #[arg(long, env = "KOMAINU_LIMIT_COUNTERS", default_value_t = 1_000_000)]
    pub limit_counters: usize,
}

/// What bounds the gateway's fetches of remote documents (documentation sources and resources,
/// OpenAPI documents by URL, JWKS).
#[derive(Args)]
pub struct FetchArgs {
    /// Let those fetches reach loopback, private (RFC 1918, ULA) and link-local addresses,
    /// directly or by a redirect (off: only public addresses).
    #[arg(long, env = "KOMAINU_PORTAL_FETCH_PRIVATE", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub portal_fetch_private: bool,
    /// Bytes of a fetched document at most (an OpenAPI document by URL has the entity limit).
    #[arg(long, env = "KOMAINU_FETCH_MAX_BYTES", default_value_t = 4 << 20)]
    pub fetch_max_bytes: usize,
    /// Seconds a fetch may take at most, whatever a document's own timeout says.
    #[arg(long, env = "KOMAINU_FETCH_TIMEOUT", default_value_t = 10)]
    pub fetch_timeout: u64,
    /// Seconds a fetched document is kept before it is fetched again.
    #[arg(long, env = "KOMAINU_FETCH_CACHE_TTL", default_value_t = 60)]
    pub fetch_cache_ttl: u64,
}

impl FetchArgs {
    pub fn fetcher(&self) -> std::sync::Arc<komainu_fetch::Fetcher> {
        komainu_fetch::Fetcher::new(komainu_fetch::Policy {
            allow_private: self.portal_fetch_private,
            max_bytes: self.fetch_max_bytes.max(1024),
            max_time: std::time::Duration::from_secs(self.fetch_timeout.max(1)),
            ttl: std::time::Duration::from_secs(self.fetch_cache_ttl),
        })
    }
}

/// What bounds the jq filters of JQRequest / JQResponse (run in worker processes).
#[derive(Args)]
pub struct SandboxArgs {
    /// Milliseconds a jq filter may run on one body.
    #[arg(long, env = "KOMAINU_JQ_TIMEOUT", default_value_t = 1000)]
    pub jq_timeout: u64,
    /// MiB of memory a jq worker process may use.
    #[arg(long, env = "KOMAINU_JQ_MAX_MEMORY", default_value_t = 256)]
    pub jq_max_memory: u64,
    /// jq worker processes at most (started when first needed).
    #[arg(long, env = "KOMAINU_JQ_WORKERS", default_value_t = 2)]
    pub jq_workers: usize,
}

impl SandboxArgs {
    /// The sandbox, its workers being this very binary.
    pub fn start(&self) -> anyhow::Result<std::sync::Arc<komainu_sandbox::Sandbox>> {
        let limits = komainu_sandbox::Limits {
            timeout: std::time::Duration::from_millis(self.jq_timeout.max(1)),
            max_memory: self.jq_max_memory.max(16) << 20,
            workers: self.jq_workers.max(1),
            ..komainu_sandbox::Limits::default()
        };
        let program = if cfg!(target_os = "linux") {
            PathBuf::from("/proc/self/exe")
        } else {
            std::env::current_exe()?
        };
        let command = komainu_sandbox::WorkerCommand {
            // Resolved now: the child's /proc/self/exe would be itself either way, but a path is
            // clearer in process listings.
            program: std::fs::read_link(&program).unwrap_or(program),
            args: vec![
                "sandbox-worker".into(),
                "--max-output".into(),
                limits.max_output.to_string(),
            ],
        };
        Ok(komainu_sandbox::Sandbox::start(command, limits))
    }
}

fn parse_cidr(s: &str) -> Result<ipnet::IpNet, String> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("\"{s}\" is not an address or a CIDR range"))
}

impl LimitArgs {
    pub fn counters(&self) -> komainu_plugins::counters::Room {
        komainu_plugins::counters::Room {
            per_owner: self.limit_counters_per_route.max(1),
            total: self.limit_counters.max(1),
        }
    }

    pub fn limits(&self) -> anyhow::Result<komainu_proxy::Limits> {
        let secs = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(std::time::Duration::from_secs_f64(v))
            } else {
                Err(anyhow::anyhow!(
                    "--{name} must be a positive number of seconds"
                ))
            }
        };
        Ok(komainu_proxy::Limits {
            timeouts: komainu_proxy::Timeouts {
                header_read: secs("header-read-timeout", self.header_read_timeout)?,
                body_read: secs("body-read-timeout", self.body_read_timeout)?,
                keepalive: secs("keepalive-timeout", self.keepalive_timeout)?,
            },
            max_connections: crate::files::max_connections(self.max_connections),
            max_header_bytes: self.max_header_bytes.max(1024),
            max_headers: self.max_headers.max(1),
            max_uri_bytes: self.max_uri_bytes.max(16),
            max_body_bytes: self.max_request_body,
            h2_max_streams: self.h2_max_streams.max(1),
        })
    }
}

fn parse_client_auth(s: &str) -> Result<komainu_tls::ClientAuthMode, String> {
    use komainu_tls::ClientAuthMode::*;
    match s.trim().to_ascii_lowercase().as_str() {
        "none" => Ok(None),
        "want" => Ok(Want),
        "need" => Ok(Need),
        "auto" => Ok(Auto),
        other => Err(format!("\"{other}\" is not one of none, want, need, auto")),
    }
}
