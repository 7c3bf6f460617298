//! Reads a Swagger 2.0 JSON document on stdin and writes its gnostic protobuf encoding to stdout
//! (what `/openapi/v2` must return to kubectl 1.27–1.28).
//!
//! `cargo run -p fjord-kube-proto --example swagger_to_gnostic < swagger.json > swagger.pb`

use std::io::{Read, Write};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input)?;
    let swagger: serde_json::Value = serde_json::from_str(&input)?;
    let encoded = fjord_kube_proto::encode_openapi_v2(&swagger)?;
    std::io::stdout().write_all(&encoded)?;
    Ok(())
}
