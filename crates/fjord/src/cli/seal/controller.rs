//! HTTP access to the Sealed Secrets controller's endpoints (`/v1/cert.pem`, `/v1/verify`,
//! `/v1/rotate`), directly (`--controller-url`) or through the API server's service proxy as
//! kubeseal does, and to certificate URLs. Blocking (ureq over rustls with aws-lc-rs, or a
//! one-request async runtime for the kube client): `fjord seal` is a short-lived command with
//! nothing else to do while it waits.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

/// Where the controller's HTTP endpoints are.
pub(super) enum Controller {
    Url(String),
    /// Through the API server's service proxy, as kubeseal does by default.
    ServiceProxy {
        namespace: String,
        name: String,
        kubeconfig: Option<PathBuf>,
        context: Option<String>,
    },
}

impl Controller {
    pub(super) fn describe(&self, path: &str) -> String {
        match self {
            Controller::Url(base) => format!("{base}{path}"),
            Controller::ServiceProxy {
                namespace, name, ..
            } => {
                format!("/api/v1/namespaces/{namespace}/services/http:{name}:/proxy{path}")
            }
        }
    }

    pub(super) fn get(&self, path: &str) -> Result<Vec<u8>> {
        let (status, body) = self.request(http::Method::GET, path, Vec::new())?;
        if status != 200 {
            bail!(
                "{}: HTTP {status}: {}",
                self.describe(path),
                String::from_utf8_lossy(&body).trim()
            );
        }
        Ok(body)
    }

    pub(super) fn post(&self, path: &str, body: &[u8]) -> Result<(u16, Vec<u8>)> {
        self.request(http::Method::POST, path, body.to_vec())
    }

    fn request(&self, method: http::Method, path: &str, body: Vec<u8>) -> Result<(u16, Vec<u8>)> {
        match self {
            Controller::Url(base) => direct(method, &format!("{base}{path}"), &body),
            Controller::ServiceProxy {
                kubeconfig,
                context,
                ..
            } => {
                let target = self.describe(path);
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("starting the async runtime")?;
                runtime
                    .block_on(through_api_server(
                        kubeconfig.as_deref(),
                        context.as_deref(),
                        method,
                        &target,
                        body,
                    ))
                    .with_context(|| format!("reaching the controller at {target}"))
            }
        }
    }
}

/// One request through the API server, with the kubeconfig's credentials (kubeseal's loading
/// rules: `--kubeconfig`, then `KUBECONFIG`, `~/.kube/config`, in-cluster).
async fn through_api_server(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
    method: http::Method,
    path: &str,
    body: Vec<u8>,
) -> Result<(u16, Vec<u8>)> {
    let options = kube::config::KubeConfigOptions {
        context: context.map(str::to_string),
        ..Default::default()
    };
    let config = match kubeconfig {
        Some(file) => {
            let kc = kube::config::Kubeconfig::read_from(file)
                .with_context(|| format!("reading the kubeconfig {}", file.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &options)
                .await
                .map_err(|e| anyhow!("no usable kubeconfig: {e}"))?
        }
        None if context.is_some() => kube::Config::from_kubeconfig(&options)
            .await
            .map_err(|e| anyhow!("no usable kubeconfig: {e}"))?,
        None => kube::Config::infer()
            .await
            .map_err(|e| anyhow!("no usable kubeconfig: {e}"))?,
    };
    let client = kube::Client::try_from(config).context("building the Kubernetes client")?;
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body)
        .context("building the request")?;
    let response = client.send(request.map(kube::client::Body::from)).await?;
    let status = response.status().as_u16();
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .context("reading the answer")?
        .to_bytes();
    Ok((status, bytes.to_vec()))
}

fn direct(method: http::Method, url: &str, body: &[u8]) -> Result<(u16, Vec<u8>)> {
    let mut response = if method == http::Method::POST {
        agent()
            .post(url)
            .header("Content-Type", "application/json")
            .send(body)
    } else {
        agent().get(url).call()
    }
    .with_context(|| format!("{method} {url}"))?;
    let status = response.status().as_u16();
    let answer = response
        .body_mut()
        .read_to_vec()
        .with_context(|| format!("reading the answer of {url}"))?;
    Ok((status, answer))
}

fn agent() -> ureq::Agent {
    // rustls needs a process-wide crypto provider; aws-lc-rs is the project's one. An error
    // only means one is installed already.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .into()
}

pub(super) fn http_get(url: &str) -> Result<(u16, Vec<u8>)> {
    direct(http::Method::GET, url, &[])
}
