//! The `komainu` binary: command line, wiring of store, admin API and proxy.

mod certificates;
mod cli;
mod config_file;
mod demo;
mod files;
mod serve;
mod storage;
mod waiting;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

/// mimalloc: size-segregated pages keep long-lived configuration (100k keys) from pinning the
/// memory of the transient documents it was parsed from, and allocation on the request path is
/// cheaper than glibc's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `KOMAINU_LOG` (default `info`). rustls warns once per handshake about what clients send (an IP
/// address as SNI, ...): a client could fill the log, so its warnings are off unless asked for.
fn log_filter() -> tracing_subscriber::EnvFilter {
    let mut spec = std::env::var("KOMAINU_LOG").unwrap_or_else(|_| "info".into());
    if !spec.contains("rustls") {
        spec.push_str(",rustls=error");
    }
    tracing_subscriber::EnvFilter::try_new(&spec).unwrap_or_else(|e| {
        eprintln!("KOMAINU_LOG={spec}: {e}; logging at info");
        "info,rustls=error".into()
    })
}

/// Any panic ends the process, whatever the build: release builds abort on panic, and a debug
/// build (the tests') must not survive what a release build would not, so that a panic anywhere
/// fails the tests instead of being caught by the task it happened in.
fn abort_on_panic() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        std::process::abort();
    }));
}

fn main() -> ExitCode {
    abort_on_panic();
    let cli = Cli::parse();
    // Written by a thread of its own, dropping lines rather than blocking when standard error
    // backs up (a full pipe must not stop the gateway); flushed at exit by `_log`.
    let (writer, _log) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .finish(std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(log_filter())
        .with_writer(writer)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    // On one core (a cpuset or a CPU quota of 1) a work-stealing scheduler has nobody to steal
    // for, and its cross-thread bookkeeping costs ~13% CPU per proxied request (bench/): one
    // thread runs everything, as an nginx worker does.
    let one_core = std::thread::available_parallelism().is_ok_and(|n| n.get() == 1);
    let mut builder = if one_core {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("komainu: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(&cli.storage, *args).await,
            Command::Import { file, replace } => {
                storage::import_file(&cli.storage, &file, replace).await
            }
            Command::Openapi(cli::OpenapiCommand::Import(args)) => {
                storage::import_openapi(&cli.storage, &args).await
            }
            Command::Export { output, yaml } => {
                storage::export(&cli.storage, output.as_deref(), yaml).await
            }
            // Long-lived (jobs until the gateway closes its standard input): the runtime costs
            // it nothing.
            Command::SandboxWorker { max_output } => {
                komainu_sandbox::worker::serve(max_output).map_err(anyhow::Error::from)
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("komainu: {e:#}");
            ExitCode::FAILURE
        }
    }
}
