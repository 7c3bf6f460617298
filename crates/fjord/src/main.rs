//! The `fjord` command line: parses arguments, sets up tracing and dispatches to one module per
//! subcommand under `cli/`. Everything of substance lives in the library crates.

mod audit_log;
mod cli;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    init_tracing();
    match cli::run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::from(1)
        }
    }
}

fn init_tracing() {
    use tracing_subscriber::prelude::*;
    let directives = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_string());
    // Audit records are JSON lines of their own (`audit_log`), whatever RUST_LOG says.
    let audit = tracing_subscriber::filter::Targets::new()
        .with_target(fjord_engine::audit::LOG_TARGET, tracing::Level::INFO);
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(human_filter(&directives)),
        )
        .with(audit_log::AuditLines::new(std::io::stderr).with_filter(audit))
        .init();
}

/// `RUST_LOG`'s filter (default `info`, or `info` when unparsable) without the audit records
/// (exactly their target: an `EnvFilter` directive would also match `fjord::audit_log`).
fn human_filter<S>(directives: &str) -> impl tracing_subscriber::layer::Filter<S> + use<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    use tracing_subscriber::filter::FilterExt;
    let env = tracing_subscriber::EnvFilter::try_new(directives)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    env.and(tracing_subscriber::filter::filter_fn(|meta| {
        meta.target() != fjord_engine::audit::LOG_TARGET
    }))
}
