//! `fjord kustomize build DIR`: render a kustomization natively, printing the same YAML stream
//! as `kubectl kustomize DIR`.

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum KustomizeCommand {
    /// Build a kustomization directory and print the resulting YAML to stdout.
    Build(BuildArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LoadRestrictorArg {
    /// Files must lie in or below the kustomization's directory (default).
    #[value(name = "LoadRestrictionsRootOnly")]
    RootOnly,
    /// Any file may be read.
    #[value(name = "LoadRestrictionsNone")]
    None,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Directory holding a kustomization.yaml.
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Which files a kustomization may read.
    #[arg(
        long = "load-restrictor",
        value_enum,
        default_value = "LoadRestrictionsRootOnly"
    )]
    load_restrictor: LoadRestrictorArg,
}

pub fn run(cmd: KustomizeCommand) -> anyhow::Result<()> {
    match cmd {
        KustomizeCommand::Build(args) => {
            let options = fjord_kustomize::BuildOptions {
                load_restrictor: match args.load_restrictor {
                    LoadRestrictorArg::RootOnly => fjord_kustomize::LoadRestrictor::RootOnly,
                    LoadRestrictorArg::None => fjord_kustomize::LoadRestrictor::None,
                },
            };
            let list = fjord_kustomize::build(&fjord_kustomize::DiskSource, &args.dir, &options)
                .with_context(|| format!("kustomize build {}", args.dir.display()))?;
            let mut out = std::io::stdout().lock();
            out.write_all(list.to_yaml_string().as_bytes())
                .context("writing output")?;
            Ok(())
        }
    }
}
