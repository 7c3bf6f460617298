#!/usr/bin/env python3
"""Extracts strategic-merge-patch metadata from the vendored Kubernetes schema.

Writes src/patch/schema.tsv, one record per line, tab-separated:
  K <group/version/kind or version/kind> <root type>
  F <type> <field> <field's type or empty> <x-kubernetes-patch-strategy> <x-kubernetes-patch-merge-key>
for the fields that lead to other types or carry patch metadata.
Run from the crate directory: python3 tools/extract_patch_schema.py
"""
import json

SRC = "../fjord-smd/data/k8s-v1.33-definitions.json"
defs = json.load(open(SRC))["$defs"]


def ref_of(p):
    for cand in (p, p.get("items", {}), *(p.get("allOf") or [])):
        r = cand.get("$ref") if isinstance(cand, dict) else None
        if r:
            return r.split("/")[-1]
    return ""


kinds = {}
types = {}
for name, d in defs.items():
    for gvk in d.get("x-kubernetes-group-version-kind", []):
        key = "/".join(x for x in (gvk["group"], gvk["version"], gvk["kind"]) if x != "") if gvk["group"] else gvk["version"] + "/" + gvk["kind"]
        kinds.setdefault(key, name)
    fields = {}
    for f, p in (d.get("properties") or {}).items():
        r = ref_of(p)
        strat = p.get("x-kubernetes-patch-strategy", "")
        key = p.get("x-kubernetes-patch-merge-key", "")
        map_keys = p.get("x-kubernetes-list-map-keys") or []
        if key and len(map_keys) > 1:
            # Lists with several map keys match elements on all of them (as kyaml does).
            key = ",".join(map_keys)
        is_list = p.get("type") == "array" or (isinstance(p.get("type"), list) and "array" in p["type"])
        if r or strat or key:
            fields[f] = [r, strat, key, 1 if is_list else 0]
    if fields:
        types[name] = fields

lines = [f"K\t{k}\t{t}" for k, t in sorted(kinds.items())]
for t, fields in sorted(types.items()):
    for f, (r, strat, key, _is_list) in sorted(fields.items()):
        lines.append(f"F\t{t}\t{f}\t{r}\t{strat}\t{key}")
open("src/patch/schema.tsv", "w").write("\n".join(lines) + "\n")
