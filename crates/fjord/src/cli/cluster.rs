//! `fjord cluster ...`: run the embedded control plane.

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Serve the embedded control plane in the foreground.
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:6443")]
    listen: String,
}

pub fn run(cmd: ClusterCommand) -> anyhow::Result<()> {
    match cmd {
        ClusterCommand::Serve(args) => {
            let _ = args.listen;
            anyhow::bail!("not yet implemented")
        }
    }
}
