//! `replacements`: copy a field of one object into fields of others (not implemented yet).

use crate::build::{Accumulated, Builder};
use crate::error::Result;
use crate::kustomization::Kustomization;

pub(crate) fn run(_b: &Builder, kust: &Kustomization, _acc: &mut Accumulated) -> Result<()> {
    if kust.has("replacements") {
        return Err(kust.transform_error("replacements", "replacements are not implemented yet"));
    }
    Ok(())
}
