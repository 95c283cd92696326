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
    /// A running node at a glance: name, uptime, readiness, peers (through its `--http` API).
    Status(cli::client::Target),
    /// A running node's peers and their status.
    Peers(cli::client::Target),
    /// The agents of the cluster, as a running node lists them.
    Agents(cli::client::AgentsArgs),
    /// The registered names of the cluster, as a running node lists them.
    Names(cli::client::NamesArgs),
    /// The cluster's variables, or one with its history.
    Vars(cli::client::VarsArgs),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return std::process::ExitCode::SUCCESS;
        }
        Err(e) => {
            // One line, with where to look, instead of clap's usage block.
            let rendered = e.render().to_string();
            let first = rendered.lines().next().unwrap_or("error: bad arguments");
            eprintln!("{first} (see `foundation --help`)");
            return std::process::ExitCode::from(2);
        }
    };
    // One line, never a backtrace (anyhow adds one under RUST_BACKTRACE).
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// An error and its causes in one line, each cause said once (many of
/// ours already name their source in their own message).
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let said = cause.to_string();
        if !line.contains(&said) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&said);
        }
    }
    line
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let default = match cli.command {
        // openraft narrates every election and shutdown at info;
        // ractor_cluster warns of every connection that ends, hostile ones
        // included (the node reports what matters: membership events, and
        // refused connections counted once per interval).
        Cmd::Node(_) => "info,openraft=warn,ractor_cluster=error",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default)),
        )
        .with_writer(std::io::stderr)
        // Colours on a terminal only: a log sent to a file or a collector
        // stays plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match cli.command {
        Cmd::Node(args) => cli::node::run(args).await,
        Cmd::Launch(args) => cli::launch::run(args).await,
        Cmd::Certs(args) => cli::certs::run(args),
        Cmd::Status(target) => cli::client::status(target).await,
        Cmd::Peers(target) => cli::client::peers(target).await,
        Cmd::Agents(args) => cli::client::agents(args).await,
        Cmd::Names(args) => cli::client::names(args).await,
        Cmd::Vars(args) => cli::client::vars(args).await,
    }
}
