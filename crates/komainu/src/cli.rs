//! Command-line interface; every flag can also be set through its environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "komainu",
    version,
    about = "Komainu: API gateway and API management"
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
    /// Store engine: `embedded`, or a `redis://host:port/db` URL.
    #[arg(long, env = "KOMAINU_STORE", default_value = "embedded", global = true)]
    pub store: String,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the gateway: proxy listeners and the admin API.
    Serve(ServeArgs),
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
    Import {
        /// The OpenAPI document (`.yaml` / `.yml` read as YAML).
        file: PathBuf,
        /// Domain the API is served on.
        #[arg(long, default_value = "")]
        domain: String,
        /// Path prefix of every route of the API.
        #[arg(long, default_value = "")]
        context_path: String,
    },
}

#[derive(Args)]
pub struct ServeArgs {
    /// Proxy listener, plain HTTP.
    #[arg(long, env = "KOMAINU_HTTP_ADDR", default_value = "0.0.0.0:8080")]
    pub http_addr: SocketAddr,
    /// Proxy listener, TLS (served when certificates exist).
    #[arg(long, env = "KOMAINU_HTTPS_ADDR", default_value = "0.0.0.0:8443")]
    pub https_addr: SocketAddr,
    /// Admin API, health and metrics listener.
    #[arg(long, env = "KOMAINU_ADMIN_ADDR", default_value = "127.0.0.1:9000")]
    pub admin_addr: SocketAddr,
    /// Declarative file of entities (an export document), loaded at start and on change.
    #[arg(long, env = "KOMAINU_CONFIG")]
    pub config: Option<PathBuf>,
    /// Also serve a demo API: `curl localhost:8080/demo/hello`.
    #[arg(long, env = "KOMAINU_DEMO")]
    pub demo: bool,
    /// Write one JSON line per proxied request on standard output.
    #[arg(long, env = "KOMAINU_ACCESS_LOG")]
    pub access_log: bool,
    /// Seconds in-flight requests get to finish after SIGTERM.
    #[arg(long, env = "KOMAINU_DRAIN_TIMEOUT", default_value_t = 30)]
    pub drain_timeout: u64,
    /// Time zone of daily and monthly quota windows (an IANA name: UTC, Europe/Paris, ...).
    #[arg(long, env = "KOMAINU_QUOTAS_TIMEZONE", default_value = "UTC")]
    pub quotas_timezone: chrono_tz::Tz,
    /// Serve PUT /api/_testing/clock to shift the quota and rotation clock (tests only).
    #[arg(long, env = "KOMAINU_TESTING_CLOCK", hide = true)]
    pub testing_clock: bool,
}
