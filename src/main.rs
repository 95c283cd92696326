//! The `foundation` command: run a node, or the local multi-node demo.
//!
//! ```text
//! foundation launch --nodes 3
//! foundation node --name a --listen 127.0.0.1:7001 --cookie secret --seed 127.0.0.1:7002
//! ```

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

mod cli;

/// Foundation: supervised, location-transparent actors and agents.
#[derive(Debug, Parser)]
#[command(name = "foundation", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

// Parsed once at start-up: the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run one node until stopped (Ctrl-C, SIGTERM, or `quit` on stdin with --commands).
    Node(cli::node::NodeArgs),
    /// Start N local nodes, let their agents vote and bid, print a summary.
    Launch(cli::launch::LaunchArgs),
    /// Make a private cluster CA and node certificates for mutual TLS.
    Certs(cli::certs::CertsArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let default = match cli.command {
        // openraft narrates every election and shutdown at info.
        Cmd::Node(_) => "info,openraft=warn",
        Cmd::Launch(_) | Cmd::Certs(_) => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default)),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Cmd::Node(args) => cli::node::run(args).await,
        Cmd::Launch(args) => cli::launch::run(args).await,
        Cmd::Certs(args) => cli::certs::run(args),
    }
}
