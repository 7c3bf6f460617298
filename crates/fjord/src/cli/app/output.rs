//! Output of `fjord app`: tables for people, JSON or YAML for scripts, and coloured diffs.

use std::io::IsTerminal;

use anyhow::Result;
use clap::ValueEnum;
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Yaml,
    /// Names only, one a line.
    Name,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

pub fn use_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
        }
    }
}

/// Prints a value as JSON or YAML.
pub fn structured(v: &Value, format: Format) -> Result<String> {
    Ok(match format {
        Format::Yaml => serde_norway::to_string(v)?,
        _ => format!("{}\n", serde_json::to_string_pretty(v)?),
    })
}

/// Left-aligned columns.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(c);
            } else {
                out.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        out.trim_end().to_string() + "\n"
    };
    let mut out = line(headers.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

pub fn s(v: &Value, key: &str) -> String {
    match &v[key] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

pub fn short(rev: &str) -> String {
    rev.chars().take(8).collect()
}

/// The list page as a table.
pub fn app_table(page: &Value) -> String {
    let rows: Vec<Vec<String>> = page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            vec![
                s(a, "name"),
                s(a, "project"),
                s(a, "sync"),
                s(a, "health"),
                s(a, "repoUrl"),
                s(a, "path"),
                s(a, "targetRevision"),
                s(a, "destinationNamespace"),
            ]
        })
        .collect();
    table(
        &[
            "NAME",
            "PROJECT",
            "SYNC",
            "HEALTH",
            "REPO",
            "PATH",
            "TARGET",
            "NAMESPACE",
        ],
        &rows,
    )
}

/// One Application, for people.
pub fn app_details(app: &Value) -> String {
    let sm = &app["summary"];
    let mut out = String::new();
    for (label, value) in [
        ("Name", format!("{}/{}", s(sm, "namespace"), s(sm, "name"))),
        ("Project", s(sm, "project")),
        ("Repo", s(sm, "repoUrl")),
        ("Path", s(sm, "path")),
        ("Target", s(sm, "targetRevision")),
        (
            "Destination",
            format!(
                "{} {}",
                s(sm, "destinationServer"),
                s(sm, "destinationNamespace")
            ),
        ),
        (
            "Sync",
            format!("{} {}", s(sm, "sync"), short(&s(sm, "revision"))),
        ),
        (
            "Health",
            format!("{} {}", s(sm, "health"), s(sm, "healthMessage")),
        ),
        ("Auto-sync", s(sm, "autoSync")),
        ("Operation", s(sm, "operationPhase")),
    ] {
        out.push_str(&format!("{label:<12} {}\n", value.trim()));
    }
    for c in sm["conditions"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "{:<12} {}\n",
            "Condition",
            c.as_str().unwrap_or("")
        ));
    }
    let rows: Vec<Vec<String>> = app["status"]["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            vec![
                s(r, "group"),
                s(r, "kind"),
                s(r, "namespace"),
                s(r, "name"),
                s(r, "status"),
                s(&r["health"], "status"),
            ]
        })
        .collect();
    if !rows.is_empty() {
        out.push('\n');
        out.push_str(&table(
            &["GROUP", "KIND", "NAMESPACE", "NAME", "STATUS", "HEALTH"],
            &rows,
        ));
    }
    out
}

/// The differing objects' unified diffs, `-` red and `+` green when colouring.
pub fn diff_text(diff: &Value, color: bool) -> (String, usize) {
    let mut out = String::new();
    let mut n = 0;
    for item in diff["items"].as_array().into_iter().flatten() {
        if item["status"] == "Unchanged" {
            continue;
        }
        n += 1;
        let title = format!(
            "===== {}/{} {}/{} ({}) ======\n",
            s(item, "group"),
            s(item, "kind"),
            s(item, "namespace"),
            s(item, "name"),
            s(item, "status")
        );
        out.push_str(&paint(&title, "1", color));
        for line in s(item, "unified").lines() {
            let code = if line.starts_with("+++") || line.starts_with("---") {
                "1"
            } else if line.starts_with('+') {
                "32"
            } else if line.starts_with('-') {
                "31"
            } else if line.starts_with("@@") {
                "36"
            } else {
                ""
            };
            out.push_str(&paint(line, code, color));
            out.push('\n');
        }
    }
    (out, n)
}

fn paint(text: &str, code: &str, color: bool) -> String {
    if color && !code.is_empty() {
        format!("\x1b[{code}m{}\x1b[0m", text.trim_end_matches('\n'))
            + if text.ends_with('\n') { "\n" } else { "" }
    } else {
        text.to_string()
    }
}

/// History, newest first.
pub fn history_table(h: &Value) -> String {
    let rows: Vec<Vec<String>> = h["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let by = &e["initiatedBy"];
            let who = if by["automated"] == true {
                "automated".to_string()
            } else {
                s(by, "username")
            };
            vec![
                s(e, "id"),
                s(e, "deployedAt"),
                short(&s(e, "revision")),
                who,
            ]
        })
        .collect();
    table(&["ID", "DEPLOYED", "REVISION", "BY"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_align_columns() {
        let t = table(&["A", "BB"], &[vec!["long".into(), "x".into()]]);
        assert_eq!(t, "A     BB\nlong  x\n");
    }

    #[test]
    fn diffs_colour_additions_and_removals_and_count_objects() {
        let d = json!({"items": [
            {"group": "apps", "kind": "Deployment", "namespace": "p", "name": "w", "status": "Modified",
             "unified": "--- live\n+++ desired\n@@ -1 +1 @@\n-replicas: 3\n+replicas: 4\n"},
            {"group": "", "kind": "Service", "namespace": "p", "name": "w", "status": "Unchanged", "unified": ""}
        ]});
        let (plain, n) = diff_text(&d, false);
        assert_eq!(n, 1);
        assert!(plain.contains("===== apps/Deployment p/w (Modified) ======"));
        assert!(plain.contains("\n-replicas: 3\n+replicas: 4\n"));
        assert!(!plain.contains("Service"));
        let (coloured, _) = diff_text(&d, true);
        assert!(coloured.contains("\x1b[31m-replicas: 3\x1b[0m"));
        assert!(coloured.contains("\x1b[32m+replicas: 4\x1b[0m"));
    }
}
