//! A kube-rs client from a kubeconfig file, or from in-cluster credentials when none is given.

use anyhow::Context;

pub async fn client(kubeconfig: Option<&std::path::Path>) -> anyhow::Result<kube::Client> {
    let config = match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading the kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default())
                .await
                .with_context(|| format!("using the kubeconfig {}", path.display()))?
        }
        None => kube::Config::incluster()
            .context("no --kubeconfig given and not running in a cluster")?,
    };
    kube::Client::try_from(config).context("building the Kubernetes client")
}
