#!/usr/bin/env python3
"""Extracts strategic-merge-patch metadata from the vendored Kubernetes schema.

Writes src/patch/schema.json: for each built-in kind its root type, and for each type the fields
that lead to other types or carry x-kubernetes-patch-strategy / x-kubernetes-patch-merge-key.
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
        is_list = p.get("type") == "array" or (isinstance(p.get("type"), list) and "array" in p["type"])
        if r or strat or key:
            fields[f] = [r, strat, key, 1 if is_list else 0]
    if fields:
        types[name] = fields

json.dump({"kinds": kinds, "types": types}, open("src/patch/schema.json", "w"), separators=(",", ":"), sort_keys=True)
