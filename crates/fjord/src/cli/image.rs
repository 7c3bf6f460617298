//! `fjord image set`: CI's last step in the pull model — set image tags in the config repository
//! and push; the controller does the rest.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Set images in a kustomization (and optionally a Helm values key), commit and push.
    Set(SetArgs),
}

#[derive(Debug, Args)]
pub struct SetArgs {
    /// The config repository: a URL (SSH or HTTPS, as git takes them) or a path.
    #[arg(long)]
    repo: String,
    /// Branch to change (default: the repository's default branch).
    #[arg(long)]
    branch: Option<String>,
    /// Directory of the kustomization, relative to the repository root.
    #[arg(long)]
    path: PathBuf,
    /// A Helm values file (relative to the repository root) whose --key gets the image's tag.
    #[arg(long, requires = "key")]
    helm_values: Option<PathBuf>,
    /// Dot-separated key in the values file, e.g. image.tag.
    #[arg(long, requires = "helm_values")]
    key: Option<String>,
    /// Commit author, "Name <email>".
    #[arg(
        long,
        env = "FJORD_GIT_AUTHOR",
        default_value = "Fjord <fjord@localhost>"
    )]
    author: String,
    /// Images: NAME=IMAGE[:TAG|@DIGEST] (or IMAGE:TAG when the name is the image).
    #[arg(required = true)]
    images: Vec<String>,
}

pub fn run(cmd: ImageCommand) -> anyhow::Result<()> {
    let ImageCommand::Set(args) = cmd;
    let images = args
        .images
        .iter()
        .map(|a| fjord_promote::ImageSet::parse(a))
        .collect::<Result<Vec<_>, _>>()?;
    let author = fjord_promote::Author::parse(&args.author)?;
    let promotion = fjord_promote::Promotion {
        path: args.path.clone(),
        images,
        helm_values: args.helm_values.clone().zip(args.key.clone()),
    };
    let checkout = fjord_promote::Checkout::clone(&args.repo, args.branch.as_deref())
        .with_context(|| format!("cloning {}", args.repo))?;
    if !fjord_promote::apply(checkout.path(), &promotion)? {
        println!(
            "nothing to change: {} already has these images",
            args.path.display()
        );
        return Ok(());
    }
    let message = fjord_promote::commit_message(&promotion);
    if checkout.commit(&message, &author)?.is_none() {
        println!("nothing to commit");
        return Ok(());
    }
    let sha = checkout.push(&author, |_| {})?;
    println!("pushed {sha} to {} of {}", checkout.branch(), args.repo);
    Ok(())
}
