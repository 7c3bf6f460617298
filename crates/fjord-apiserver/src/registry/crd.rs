//! CustomResourceDefinition → served resource types (one per served version).

use serde_json::Value;

use super::{Origin, ResourceType, ScalePaths};

/// A CRD that cannot be served.
#[derive(Debug, thiserror::Error)]
#[error("CustomResourceDefinition {crd}: {field}: {message}")]
pub struct CrdError {
    /// The CRD's name.
    pub crd: String,
    /// The offending field.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// The resource types a CRD defines, one per served version.
pub fn types_from_crd(crd: &Value) -> Result<Vec<ResourceType>, CrdError> {
    let name = crd
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let err = |field: &str, message: &str| CrdError {
        crd: name.clone(),
        field: field.to_string(),
        message: message.to_string(),
    };
    let spec = crd
        .get("spec")
        .ok_or_else(|| err("spec", "Required value"))?;
    let group = str_at(spec, "group").ok_or_else(|| err("spec.group", "Required value"))?;
    let names = spec
        .get("names")
        .ok_or_else(|| err("spec.names", "Required value"))?;
    let plural =
        str_at(names, "plural").ok_or_else(|| err("spec.names.plural", "Required value"))?;
    let kind = str_at(names, "kind").ok_or_else(|| err("spec.names.kind", "Required value"))?;
    if name != format!("{plural}.{group}") {
        return Err(err(
            "metadata.name",
            &format!("must be spec.names.plural+\".\"+spec.group ({plural}.{group})"),
        ));
    }
    let singular = str_at(names, "singular")
        .map(str::to_string)
        .unwrap_or_else(|| kind.to_ascii_lowercase());
    let namespaced = match str_at(spec, "scope") {
        Some("Namespaced") => true,
        Some("Cluster") => false,
        _ => {
            return Err(err(
                "spec.scope",
                "Unsupported value: must be \"Namespaced\" or \"Cluster\"",
            ));
        }
    };
    let strings = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let short_names = strings(names.get("shortNames"));
    let categories = strings(names.get("categories"));
    let versions = spec
        .get("versions")
        .and_then(Value::as_array)
        .ok_or_else(|| err("spec.versions", "Required value"))?;
    let mut out = Vec::new();
    for (i, v) in versions.iter().enumerate() {
        let vname = str_at(v, "name")
            .ok_or_else(|| err(&format!("spec.versions[{i}].name"), "Required value"))?;
        if !v.get("served").and_then(Value::as_bool).unwrap_or(false) {
            continue;
        }
        let subresources = v.get("subresources");
        let scale = subresources
            .and_then(|s| s.get("scale"))
            .map(|s| ScalePaths {
                spec_replicas: str_at(s, "specReplicasPath")
                    .unwrap_or(".spec.replicas")
                    .into(),
                status_replicas: str_at(s, "statusReplicasPath")
                    .unwrap_or(".status.replicas")
                    .into(),
                label_selector: str_at(s, "labelSelectorPath").map(str::to_string),
            });
        out.push(ResourceType {
            group: group.to_string(),
            version: vname.to_string(),
            plural: plural.to_string(),
            singular: singular.clone(),
            kind: kind.to_string(),
            namespaced,
            short_names: short_names.clone(),
            categories: categories.clone(),
            status_subresource: subresources.and_then(|s| s.get("status")).is_some(),
            scale,
            has_generation: true,
            origin: Origin::Crd {
                crd_name: name.clone(),
                schema: v.pointer("/schema/openAPIV3Schema").cloned(),
                printer_columns: v
                    .get("additionalPrinterColumns")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
            },
        });
    }
    Ok(out)
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn served_versions_become_types() {
        let crd = json!({"metadata": {"name": "widgets.example.com"}, "spec": {
        "group": "example.com", "scope": "Namespaced",
        "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"], "categories": ["all"]},
        "versions": [
            {"name": "v1", "served": true, "storage": true, "subresources": {"status": {}}},
            {"name": "v1beta1", "served": false, "storage": false}
        ]}});
        let types = types_from_crd(&crd).unwrap();
        assert_eq!(types.len(), 1);
        assert_eq!(types[0].singular, "widget");
        assert!(types[0].status_subresource);
        assert_eq!(types[0].short_names, vec!["wd"]);
    }

    #[test]
    fn a_misnamed_crd_is_refused_naming_the_field() {
        let crd = json!({"metadata": {"name": "x.example.com"}, "spec": {
            "group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget"}, "versions": []}});
        let e = types_from_crd(&crd).unwrap_err();
        assert_eq!(e.field, "metadata.name");
    }
}
