//! HTTP access to the Sealed Secrets controller's endpoints (`/v1/cert.pem`, `/v1/verify`,
//! `/v1/rotate`) and to certificate URLs. Blocking (ureq over rustls with aws-lc-rs): `fjord seal`
//! is a short-lived command with nothing else to do while it waits.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

/// Where the controller's HTTP endpoints are.
pub(super) enum Controller {
    Url(String),
    ServiceProxy { namespace: String, name: String },
}

impl Controller {
    pub(super) fn describe(&self, path: &str) -> String {
        match self {
            Controller::Url(base) => format!("{base}{path}"),
            Controller::ServiceProxy { namespace, name } => {
                format!("/api/v1/namespaces/{namespace}/services/http:{name}:/proxy{path}")
            }
        }
    }

    fn base(&self, path: &str) -> Result<&str> {
        match self {
            Controller::Url(base) => Ok(base),
            Controller::ServiceProxy { .. } => Err(anyhow!(
                "reaching the controller through the Kubernetes API service proxy ({}) is not \
                 yet supported by fjord seal: pass --cert FILE|URL to seal offline, or \
                 --controller-url URL (e.g. after `kubectl port-forward -n kube-system \
                 svc/sealed-secrets-controller 8080`)",
                self.describe(path)
            )),
        }
    }

    pub(super) fn get(&self, path: &str) -> Result<Vec<u8>> {
        let url = format!("{}{path}", self.base(path)?);
        let (status, body) = http_get(&url)?;
        if status != 200 {
            bail!("{url}: HTTP {status}");
        }
        Ok(body)
    }

    pub(super) fn post(&self, path: &str, body: &[u8]) -> Result<(u16, Vec<u8>)> {
        let url = format!("{}{path}", self.base(path)?);
        let mut response = agent()
            .post(&url)
            .header("Content-Type", "application/json")
            .send(body)
            .with_context(|| format!("POST {url}"))?;
        let status = response.status().as_u16();
        let answer = response
            .body_mut()
            .read_to_vec()
            .with_context(|| format!("reading the answer of {url}"))?;
        Ok((status, answer))
    }
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
    let mut response = agent()
        .get(url)
        .call()
        .with_context(|| format!("GET {url}"))?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .read_to_vec()
        .with_context(|| format!("reading the answer of {url}"))?;
    Ok((status, body))
}
