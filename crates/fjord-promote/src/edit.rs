//! Line-level YAML edits that keep everything else of the file as it was: comments, blank lines,
//! key order, quoting and indentation. Only block-style YAML is edited (what kustomization and
//! values files are in practice); anything else is refused with a clear error rather than
//! rewritten.

use crate::Error;
use crate::image::{ImageSet, Version};

struct Line<'a> {
    text: &'a str,
    indent: usize,
}

fn lines(text: &str) -> Vec<Line<'_>> {
    text.split_inclusive('\n')
        .map(|t| Line {
            text: t,
            indent: t.len() - t.trim_start_matches(' ').len(),
        })
        .collect()
}

fn is_blank_or_comment(l: &str) -> bool {
    let t = l.trim();
    t.is_empty() || t.starts_with('#')
}

/// `key: value  # comment` → (key, value, comment) of a mapping line (after `- ` if any).
fn split_entry(content: &str) -> Option<(&str, &str, &str)> {
    let (key, rest) = content.split_once(':')?;
    let key = key.trim();
    if key.is_empty() || key.contains(' ') && !key.starts_with(['"', '\'']) {
        return None;
    }
    if !(rest.is_empty() || rest.starts_with([' ', '\n', '\r'])) {
        return None;
    }
    let rest = rest.trim_end_matches(['\n', '\r']);
    let (value, comment) = match rest.find(" #") {
        Some(i) if !in_quotes(&rest[..i]) => (&rest[..i], &rest[i..]),
        _ => (rest, ""),
    };
    Some((key.trim_matches(['"', '\'']), value.trim(), comment))
}

fn in_quotes(s: &str) -> bool {
    s.matches('"').count() % 2 == 1 || s.matches('\'').count() % 2 == 1
}

/// Renders a scalar the way a YAML reader will read back as this exact string.
fn scalar(value: &str, like: &str) -> String {
    let quote = like.starts_with('"') || like.starts_with('\'');
    let plain_ok = !value.is_empty()
        && !matches!(
            value.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null" | "~"
        )
        && value.parse::<f64>().is_err()
        && !value.starts_with(|c: char| "!&*[]{}|>'\"%@`#,?:-".contains(c))
        && !value.contains(": ")
        && !value.contains(" #");
    if quote || !plain_ok {
        let q = if like.starts_with('\'') { '\'' } else { '"' };
        format!("{q}{value}{q}")
    } else {
        value.to_string()
    }
}

fn eol(l: &str) -> &str {
    if l.ends_with("\r\n") {
        "\r\n"
    } else if l.ends_with('\n') {
        "\n"
    } else {
        ""
    }
}

/// Sets an image in a kustomization's `images` list (adding the list or the entry if missing).
/// Returns the new text; it equals the input when nothing changes.
pub fn set_kustomize_image(text: &str, file: &str, set: &ImageSet) -> Result<String, Error> {
    let ls = lines(text);
    let not_block = |why: &str| Error::Unsupported {
        file: file.to_string(),
        why: why.to_string(),
    };
    let images_at = ls
        .iter()
        .position(|l| l.indent == 0 && split_entry(l.text).is_some_and(|(k, _, _)| k == "images"));
    let mut fields: Vec<(&str, Option<String>)> = vec![("newName", set.new_name.clone())];
    match &set.version {
        Version::Tag(t) => {
            fields.push(("newTag", Some(t.clone())));
            fields.push(("digest", None));
        }
        Version::Digest(d) => {
            fields.push(("digest", Some(d.clone())));
            fields.push(("newTag", None));
        }
        Version::None => {}
    }
    let Some(start) = images_at else {
        // No images list yet: append one.
        let mut out = text.to_string();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!("images:\n- name: {}\n", scalar(&set.name, "")));
        for (k, v) in &fields {
            if let Some(v) = v {
                out.push_str(&format!("  {k}: {}\n", scalar(v, "")));
            }
        }
        return Ok(out);
    };
    if let Some((_, v, _)) = split_entry(ls[start].text)
        && !v.is_empty()
    {
        return Err(not_block("`images` is not a block sequence"));
    }
    // The list runs until the next line at column 0 that is not a comment, a blank or an item.
    let end = (start + 1..ls.len())
        .find(|&i| {
            ls[i].indent == 0 && !is_blank_or_comment(ls[i].text) && !ls[i].text.starts_with("- ")
        })
        .unwrap_or(ls.len());
    // Items: lines whose content starts with "- ".
    let item_starts: Vec<usize> = (start + 1..end)
        .filter(|&i| ls[i].text.trim_start().starts_with("- "))
        .collect();
    let dash_indent = item_starts.first().map(|&i| ls[i].indent).unwrap_or(0);
    let field_indent = dash_indent + 2;
    let mut target: Option<(usize, usize)> = None;
    for (n, &s) in item_starts.iter().enumerate() {
        let e = item_starts.get(n + 1).copied().unwrap_or(end);
        let named = (s..e).any(|i| {
            let content = if i == s {
                ls[i].text.trim_start().trim_start_matches("- ")
            } else {
                ls[i].text.trim_start()
            };
            split_entry(content)
                .is_some_and(|(k, v, _)| k == "name" && v.trim_matches(['"', '\'']) == set.name)
        });
        if named {
            target = Some((s, e));
        }
    }
    let mut out: Vec<String> = ls.iter().map(|l| l.text.to_string()).collect();
    match target {
        None => {
            // Append a new entry after the last item (before trailing blanks/comments).
            let mut at = end;
            while at > start + 1 && is_blank_or_comment(ls[at - 1].text) {
                at -= 1;
            }
            let nl = if at > 0 { eol(ls[at - 1].text) } else { "\n" };
            let nl = if nl.is_empty() { "\n" } else { nl };
            if at > 0 && eol(&out[at - 1]).is_empty() {
                out[at - 1].push('\n');
            }
            let mut entry = format!(
                "{}- name: {}{nl}",
                " ".repeat(dash_indent),
                scalar(&set.name, "")
            );
            for (k, v) in &fields {
                if let Some(v) = v {
                    entry.push_str(&format!(
                        "{}{k}: {}{nl}",
                        " ".repeat(field_indent),
                        scalar(v, "")
                    ));
                }
            }
            out.insert(at, entry);
        }
        Some((s, e)) => {
            let mut remove = Vec::new();
            let mut additions = String::new();
            for (k, v) in &fields {
                let found = (s..e).find(|&i| {
                    let content = if i == s {
                        ls[i].text.trim_start().trim_start_matches("- ")
                    } else {
                        ls[i].text.trim_start()
                    };
                    split_entry(content).is_some_and(|(key, _, _)| key == *k)
                });
                match (found, v) {
                    (Some(i), Some(v)) => {
                        let content_start = ls[i].text.len() - ls[i].text.trim_start().len()
                            + if i == s { 2 } else { 0 };
                        let content = &ls[i].text[content_start..];
                        let (_, old, comment) = split_entry(content).expect("matched above");
                        let key_part =
                            &ls[i].text[..content_start + content.find(':').unwrap_or(0) + 1];
                        out[i] =
                            format!("{key_part} {}{comment}{}", scalar(v, old), eol(ls[i].text));
                    }
                    (Some(i), None) => {
                        if i == s {
                            return Err(not_block(
                                "the images entry starts with a field that must be removed",
                            ));
                        }
                        remove.push(i);
                    }
                    (None, Some(v)) => additions.push_str(&format!(
                        "{}{k}: {}\n",
                        " ".repeat(field_indent),
                        scalar(v, "")
                    )),
                    (None, None) => {}
                }
            }
            // New fields go after the entry's last remaining line.
            let after = (s..e)
                .rev()
                .find(|&i| !is_blank_or_comment(ls[i].text) && !remove.contains(&i))
                .unwrap_or(s);
            if !additions.is_empty() {
                if eol(&out[after]).is_empty() {
                    out[after].push('\n');
                }
                out[after].push_str(&additions);
            }
            for i in remove.into_iter().rev() {
                out.remove(i);
            }
        }
    }
    Ok(out.concat())
}

/// Sets `key.path` (dot-separated) in a YAML mapping to a string value, adding the missing keys.
pub fn set_value(text: &str, file: &str, path: &str, value: &str) -> Result<String, Error> {
    let keys: Vec<&str> = path.split('.').collect();
    if keys.iter().any(|k| k.is_empty()) {
        return Err(Error::InvalidKey {
            key: path.to_string(),
        });
    }
    let ls = lines(text);
    let mut out: Vec<String> = ls.iter().map(|l| l.text.to_string()).collect();
    // Walk down: within [lo, hi) at indentation > parent, find each key.
    let (mut lo, mut hi) = (0usize, ls.len());
    let mut parent_indent: Option<usize> = None;
    for (depth, key) in keys.iter().enumerate() {
        let child_indent = (lo..hi)
            .filter(|&i| !is_blank_or_comment(ls[i].text))
            .map(|i| ls[i].indent)
            .find(|&ind| parent_indent.is_none_or(|p| ind > p));
        let found = (lo..hi).find(|&i| {
            !is_blank_or_comment(ls[i].text)
                && Some(ls[i].indent) == child_indent
                && split_entry(ls[i].text.trim_start()).is_some_and(|(k, _, _)| k == *key)
        });
        let last = depth == keys.len() - 1;
        match found {
            Some(i) => {
                let (_, old, comment) =
                    split_entry(ls[i].text.trim_start()).expect("matched above");
                if last {
                    if old.starts_with(['|', '>', '{', '[', '&', '*']) {
                        return Err(Error::Unsupported {
                            file: file.to_string(),
                            why: format!("{path} is not a plain scalar"),
                        });
                    }
                    let colon = ls[i].text.find(':').unwrap_or(0);
                    out[i] = format!(
                        "{} {}{comment}{}",
                        &ls[i].text[..colon + 1],
                        scalar(value, old),
                        eol(ls[i].text)
                    );
                    return Ok(out.concat());
                }
                if !old.is_empty() {
                    return Err(Error::Unsupported {
                        file: file.to_string(),
                        why: format!("{} holds a value, not a mapping", keys[..=depth].join(".")),
                    });
                }
                parent_indent = Some(ls[i].indent);
                lo = i + 1;
                hi = (lo..hi)
                    .find(|&j| !is_blank_or_comment(ls[j].text) && ls[j].indent <= ls[i].indent)
                    .unwrap_or(hi);
            }
            None => {
                // Insert the rest of the path at the end of this mapping.
                let indent = child_indent.unwrap_or(parent_indent.map(|p| p + 2).unwrap_or(0));
                let mut at = hi;
                while at > lo && is_blank_or_comment(ls[at - 1].text) {
                    at -= 1;
                }
                if at > 0 && eol(&out[at - 1]).is_empty() {
                    out[at - 1].push('\n');
                }
                let mut block = String::new();
                for (n, k) in keys[depth..].iter().enumerate() {
                    let pad = " ".repeat(indent + 2 * n);
                    if depth + n == keys.len() - 1 {
                        block.push_str(&format!("{pad}{k}: {}\n", scalar(value, "")));
                    } else {
                        block.push_str(&format!("{pad}{k}:\n"));
                    }
                }
                out.insert(at, block);
                return Ok(out.concat());
            }
        }
    }
    Ok(out.concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(arg: &str) -> ImageSet {
        ImageSet::parse(arg).unwrap()
    }

    #[test]
    fn updates_a_tag_in_place_keeping_comments_and_order() {
        let before = "# production overlay\nresources:\n- ../../base\nimages:\n# the API\n- name: ghcr.io/my-org/payment-gateway\n  newTag: 1.4.2 # pinned by CI\nreplicas:\n- name: x\n  count: 3\n";
        let after = set_kustomize_image(
            before,
            "k.yaml",
            &set("ghcr.io/my-org/payment-gateway=ghcr.io/my-org/payment-gateway:1.5.0"),
        )
        .unwrap();
        assert_eq!(
            after,
            before.replace("newTag: 1.4.2 # pinned", "newTag: 1.5.0 # pinned")
        );
        let same = set_kustomize_image(
            &after,
            "k.yaml",
            &set("ghcr.io/my-org/payment-gateway:1.5.0"),
        )
        .unwrap();
        assert_eq!(same, after, "setting the same tag changes nothing");
    }

    #[test]
    fn adds_entries_fields_and_the_list() {
        let before = "resources:\n  - app.yaml\nimages:\n  - name: a\n    newTag: \"1\"\n";
        let after = set_kustomize_image(before, "k", &set("b=registry.io/b:2.0")).unwrap();
        assert_eq!(
            after,
            "resources:\n  - app.yaml\nimages:\n  - name: a\n    newTag: \"1\"\n  - name: b\n    newName: registry.io/b\n    newTag: \"2.0\"\n"
        );
        let quoted = set_kustomize_image(before, "k", &set("a=a:3")).unwrap();
        assert!(quoted.contains("newTag: \"3\""), "{quoted}");
        let fresh = set_kustomize_image("resources:\n- x.yaml\n", "k", &set("nginx:1.27")).unwrap();
        assert_eq!(
            fresh,
            "resources:\n- x.yaml\nimages:\n- name: nginx\n  newTag: \"1.27\"\n"
        );
    }

    #[test]
    fn a_digest_replaces_the_tag() {
        let before = "images:\n- name: app\n  newTag: v1\n";
        let after = set_kustomize_image(before, "k", &set("app@sha256:0123")).unwrap();
        assert_eq!(after, "images:\n- name: app\n  digest: sha256:0123\n");
    }

    #[test]
    fn helm_values_are_set_by_path() {
        let before =
            "# values\nimage:\n  repository: ghcr.io/org/app # repo\n  tag: \"1.0\"\nreplicas: 2\n";
        let after = set_value(before, "values.yaml", "image.tag", "1.1").unwrap();
        assert_eq!(after, before.replace("tag: \"1.0\"", "tag: \"1.1\""));
        let added = set_value(before, "values.yaml", "image.pullPolicy", "Always").unwrap();
        assert!(
            added.contains("  tag: \"1.0\"\n  pullPolicy: Always\nreplicas: 2\n"),
            "{added}"
        );
        let deep = set_value("a: 1\n", "v", "b.c.d", "x").unwrap();
        assert_eq!(deep, "a: 1\nb:\n  c:\n    d: x\n");
        assert!(set_value("image: x\n", "v", "image.tag", "1").is_err());
        assert!(set_value("a: 1\n", "v", "a..b", "1").is_err());
    }
}
