//! Where a value file or `--set-file` path points: the chart's own tree (relative to the
//! chart, `..` allowed while it stays in the repository), another source (`$ref/path`,
//! relative to that source's root, as in Argo CD), or a URL helm fetches itself.

/// A resolved file reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileRef {
    /// A path in the chart's own tree.
    Tree(String),
    /// A path in the tree of the source with `ref: name`.
    Ref {
        /// The ref name (without `$`).
        name: String,
        /// Path from that source's root.
        path: String,
    },
    /// An `http(s)://` URL, passed to helm unchanged.
    Url(String),
}

/// Resolves `rel` against the tree directory `base`, allowing `..` segments that stay
/// inside the tree; `None` when the result would leave it. A leading `/` means the tree root.
pub fn resolve_relative(base: &str, rel: &str) -> Option<String> {
    let mut parts: Vec<&str> = if rel.starts_with('/') {
        Vec::new()
    } else {
        base.split('/').filter(|p| !p.is_empty()).collect()
    };
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// Classifies `file` as given in `valueFiles` or `fileParameters[].path` for a chart at
/// `chart_path`. `Err` names what is wrong (for the caller to wrap with the field).
pub fn classify(file: &str, chart_path: &str) -> Result<FileRef, String> {
    if file.starts_with("http://") || file.starts_with("https://") {
        return Ok(FileRef::Url(file.to_string()));
    }
    if let Some(rest) = file.strip_prefix('$') {
        let (name, path) = rest.split_once('/').unwrap_or((rest, ""));
        if name.is_empty() {
            return Err(format!(
                "{file:?}: `$` must be followed by a source ref name"
            ));
        }
        let path = resolve_relative("", path)
            .ok_or_else(|| format!("{file:?}: leaves the referenced source"))?;
        if path.is_empty() {
            return Err(format!("{file:?}: names no file in source ${name}"));
        }
        return Ok(FileRef::Ref {
            name: name.to_string(),
            path,
        });
    }
    let path = resolve_relative(chart_path, file)
        .ok_or_else(|| format!("{file:?}: leaves the repository"))?;
    Ok(FileRef::Tree(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_resolve_inside_the_repository() {
        assert_eq!(
            resolve_relative("charts/web", "values-prod.yaml").unwrap(),
            "charts/web/values-prod.yaml"
        );
        assert_eq!(
            resolve_relative("charts/web", "../../env/prod.yaml").unwrap(),
            "env/prod.yaml"
        );
        assert_eq!(
            resolve_relative("charts/web", "./a//b.yaml").unwrap(),
            "charts/web/a/b.yaml"
        );
        assert_eq!(
            resolve_relative("charts/web", "/env/x.yaml").unwrap(),
            "env/x.yaml"
        );
        assert_eq!(resolve_relative("charts/web", "../../../x.yaml"), None);
    }

    #[test]
    fn refs_urls_and_tree_paths() {
        assert_eq!(
            classify("$values/env/prod/values.yaml", "chart").unwrap(),
            FileRef::Ref {
                name: "values".into(),
                path: "env/prod/values.yaml".into()
            }
        );
        assert_eq!(
            classify("https://example.com/v.yaml", "chart").unwrap(),
            FileRef::Url("https://example.com/v.yaml".into())
        );
        assert_eq!(
            classify("values-prod.yaml", "chart").unwrap(),
            FileRef::Tree("chart/values-prod.yaml".into())
        );
        assert!(classify("$/x.yaml", "chart").is_err());
        assert!(classify("$values", "chart").is_err());
        assert!(classify("$values/../../x", "chart").is_err());
        assert!(classify("../../x.yaml", "chart").is_err());
    }
}
