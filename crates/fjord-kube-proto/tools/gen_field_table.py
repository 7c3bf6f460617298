#!/usr/bin/env python3
"""Generate data/k8s-proto-fields.txt, the field table the protobuf decoder is driven by.

Inputs (both registry packages; nothing here is hand-typed):
  1. the `k8s-pb` crate from crates.io (kube-rs org), whose prost-build output carries, for every
     Kubernetes generated.proto message, each field's number, wire type, label and message type in
     `#[prost(...)]` attributes. Get it with `cargo info k8s-pb` or any `cargo fetch` that uses it; it
     lands in ~/.cargo/registry/src/*/k8s-pb-<version>/.
  2. Kubernetes' OpenAPI definitions as JSON Schema (`$defs`, as in crates/fjord-smd/data/, which come
     from the `kubernetes-validate` PyPI wheel), for the JSON field names (prost snake_cases them and
     loses e.g. `volumeID`), the `required` lists and `x-kubernetes-group-version-kind`.

Usage: python3 tools/gen_field_table.py <k8s-pb source dir> <definitions.json> > data/k8s-proto-fields.txt

Output format (one record per line, space separated):
  # comment
  K <apiVersion> <kind> <message>                       a kind the decoder accepts
  M <message> [wrapper]                                 a message; `wrapper` = JSON form is its `items` array
  F <number> <jsonName> <label> <type> [required]       a field of the preceding message
  F <number> - opt <message> inline                     an embedded Go struct: its fields are the parent's
     label: opt | rep | map:<keytype>;  type: string bytes bool int32 int64 double | <message>
"""
import json
import os
import re
import sys

PB_ROOT_PREFIX = {  # k8s-pb module path prefix -> OpenAPI definition name prefix
    "api": "io.k8s.api",
    "apimachinery": "io.k8s.apimachinery",
    "apiextensions_apiserver": "io.k8s.apiextensions-apiserver",
    "kube_aggregator": "io.k8s.kube-aggregator",
    "metrics": "io.k8s.metrics",
}

ATTR = re.compile(r'#\[prost\((?P<body>.*)\)\]')
STRUCT = re.compile(r'^pub struct (\w+) \{')
FIELD = re.compile(r'^\s*pub (?:r#)?(\w+):\s*(.*)$')


def module_of(root, path):
    rel = os.path.relpath(os.path.dirname(path), os.path.join(root, "src"))
    return rel.split(os.sep)


def def_name(module):
    return ".".join([PB_ROOT_PREFIX[module[0]]] + [m.replace("_", "-") if i == 0 else m
                                                     for i, m in enumerate(module[1:])])


def resolve(module, rust_type):
    """Resolve a prost type path relative to `module` into a definition-style message name."""
    path = rust_type.replace(" ", "").strip(",")
    for wrapper in ("::core::option::Option<", "::prost::alloc::vec::Vec<", "::prost::alloc::boxed::Box<"):
        while path.startswith(wrapper):
            path = path[len(wrapper):-1]
    parts = path.split("::")
    if parts[0] == "crate":
        target = parts[1:-1]
    else:
        target = list(module)
        while parts and parts[0] == "super":
            target.pop()
            parts.pop(0)
        target += parts[:-1]
    return def_name(target) + "." + parts[-1]


def squash(name):
    """Compare names ignoring case and punctuation: `volume_id` ~ `volumeID`, `ref` ~ `$ref`,
    `x_kubernetes_list_type` ~ `x-kubernetes-list-type`."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


RESOURCE_IMPL = re.compile(r'impl crate::Resource for (\w+) \{\s*const API_VERSION: &\'static str = "([^"]+)";'
                           r'.*?const KIND: &\'static str = "([^"]+)";', re.S)


def parse_resource_kinds(root):
    """(apiVersion, kind, message) from k8s-pb's `impl crate::Resource` blocks; these also cover
    kinds newer than the OpenAPI definitions."""
    kinds = set()
    for dirpath, _, files in os.walk(os.path.join(root, "src")):
        if "mod.rs" not in files:
            continue
        path = os.path.join(dirpath, "mod.rs")
        module = module_of(root, path)
        if module == ["."] or module[0] not in PB_ROOT_PREFIX:
            continue
        for m in RESOURCE_IMPL.finditer(open(path).read()):
            kinds.add((m.group(2), m.group(3), def_name(module) + "." + m.group(1)))
    return kinds


def parse_crate(root):
    messages = {}
    for dirpath, _, files in os.walk(os.path.join(root, "src")):
        for f in files:
            if f != "mod.rs":
                continue
            path = os.path.join(dirpath, f)
            module = module_of(root, path)
            if module == ["."] or module[0] not in PB_ROOT_PREFIX:
                continue
            lines = open(path).read().split("\n")
            current = None
            i = 0
            while i < len(lines):
                line = lines[i]
                m = STRUCT.match(line)
                if m:
                    current = def_name(module) + "." + m.group(1)
                    messages[current] = []
                elif line.startswith("}"):
                    current = None
                elif current:
                    a = ATTR.search(line)
                    if a:
                        decl = ""
                        i += 1
                        while True:
                            decl += lines[i].strip()
                            if decl.endswith(",") and decl.count("<") == decl.count(">"):
                                break
                            i += 1
                        fm = FIELD.match(decl)
                        messages[current].append(field_of(module, a.group("body"), fm.group(1), fm.group(2)))
                i += 1
    return messages


def field_of(module, attr, rust_name, rust_type):
    tag = int(re.search(r'tag = "(\d+)"', attr).group(1))
    kind = attr.split(",")[0].split("=")[0].strip()
    if kind == "btree_map":
        key, value = [s.strip() for s in re.search(r'btree_map = "([^"]*)"', attr).group(1).split(",")]
        if value == "message":
            inner = rust_type[rust_type.index("<") + 1:rust_type.rindex(">")]
            value = resolve(module, inner.split(",", 1)[1])
        return (tag, rust_name, "map:" + key, value)
    label = "rep" if "repeated" in attr else "opt"
    if kind == "message":
        return (tag, rust_name, label, resolve(module, rust_type))
    if kind == "bytes":
        return (tag, rust_name, label, "bytes")
    return (tag, rust_name, label, kind)


def is_inline(typ, parent_props, messages, depth=0):
    """A Go struct embedded with `json:",inline"`: a nested message in protobuf, flattened in JSON.
    Recognised by its fields (or those of its own inline members) appearing among the parent's
    JSON properties while the field itself does not."""
    inner = messages.get(typ)
    if not inner or depth > 2:
        return False
    squashed = {squash(p) for p in parent_props}
    return any(squash(f[1]) in squashed or is_inline(f[3], parent_props, messages, depth + 1)
               for f in inner)


def rename_to_definitions(messages, defs):
    """prost renames acronyms (`HTTPGetAction` -> `HttpGetAction`, `JSONSchemaProps` -> `JsonSchemaProps`);
    use Kubernetes' own message names (those of the OpenAPI definitions) wherever they differ only in case."""
    by_lower = {d.lower(): d for d in defs}
    # Versions absent from the definitions (older betas, newer APIs) borrow the spelling the same
    # message name has in another version: `v1beta1.JsonSchemaProps` -> `v1beta1.JSONSchemaProps`.
    short_by_lower = {d.rsplit(".", 1)[1].lower(): d.rsplit(".", 1)[1] for d in defs}

    def canonical(name):
        if name.lower() in by_lower:
            return by_lower[name.lower()]
        package, short = name.rsplit(".", 1)
        return package + "." + short_by_lower.get(short.lower(), short)

    rename = {name: canonical(name) for name in messages}
    renamed = {}
    for name, fields in messages.items():
        renamed[rename[name]] = [(tag, rust_name, label, rename.get(typ, typ)) for tag, rust_name, label, typ in fields]
    return renamed


def json_names_by_squash(defs):
    """The most common JSON spelling of each property name across all definitions, e.g.
    `nonresourceurls` -> `nonResourceURLs`."""
    counts = {}
    for schema in defs.values():
        for prop in schema.get("properties", {}):
            spellings = counts.setdefault(squash(prop), {})
            spellings[prop] = spellings.get(prop, 0) + 1
    return {key: max(spellings, key=lambda p: (spellings[p], p)) for key, spellings in counts.items()}


def inherit_inline_schemas(messages, defs):
    """Embedded structs (`VolumeSource` in `Volume`, `ProbeHandler` in `Probe`) have no OpenAPI
    definition of their own: their JSON names and required fields are the embedding message's."""
    schemas = {name: defs[name] for name in messages if name in defs}
    changed = True
    while changed:
        changed = False
        for name, schema in list(schemas.items()):
            props = schema.get("properties", {})
            squashed = {squash(p) for p in props}
            for _, rust_name, _, typ in messages[name]:
                if typ in schemas or squash(rust_name) in squashed:
                    continue
                if is_inline(typ, props, messages):
                    schemas[typ] = {"properties": props, "required": schema.get("required", [])}
                    changed = True
    return schemas


def main():
    root, defs_path = sys.argv[1], sys.argv[2]
    defs = json.load(open(defs_path))
    defs = defs.get("$defs", defs.get("definitions", defs))
    messages = rename_to_definitions(parse_crate(root), defs)
    version = os.path.basename(os.path.normpath(root))
    out = ["# Generated by tools/gen_field_table.py; do not edit by hand.",
           f"# Sources: crates.io {version} (prost attributes of Kubernetes' generated.proto messages),",
           f"# JSON names/required/GVKs from {os.path.basename(defs_path)} (Kubernetes OpenAPI definitions).",
           "# Format: see tools/gen_field_table.py."]
    renamed = {n.lower(): n for n in messages}
    kinds = {(av, kind, renamed.get(name.lower(), name)) for av, kind, name in parse_resource_kinds(root)}
    kinds = {k for k in kinds if k[2] in messages}
    for name, schema in defs.items():
        for gvk in schema.get("x-kubernetes-group-version-kind", []):
            if name in messages:
                av = f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]
                kinds.add((av, gvk["kind"], name))
    for av, kind, name in sorted(kinds):
        out.append(f"K {av} {kind} {name}")
    unmatched = []
    schemas = inherit_inline_schemas(messages, defs)
    global_names = json_names_by_squash(defs)
    for name in sorted(messages):
        fields = messages[name]
        schema = schemas.get(name)
        props = (schema or {}).get("properties", {})
        required = set((schema or {}).get("required", []))
        by_squash = {squash(p): p for p in props}
        wrapper = schema is None and len(fields) == 1 and fields[0][1] == "items" and fields[0][2] == "rep"
        out.append(f"M {name}" + (" wrapper" if wrapper else ""))
        for tag, rust_name, label, typ in sorted(fields):
            json_name = by_squash.get(squash(rust_name))
            if json_name is None and schema is not None and is_inline(typ, props, messages):
                out.append(f"F {tag} - {label} {typ} inline")
                continue
            if json_name is None:
                # Not in this message's definition (a version newer or older than the definitions,
                # or an internal type): the JSON name the same field has elsewhere, else lowerCamelCase.
                head, *rest = rust_name.split("_")
                json_name = head + "".join(r[:1].upper() + r[1:] for r in rest)
                elsewhere = global_names.get(squash(rust_name))
                # Only where prost's snake_case mangled an acronym or punctuation (`nonResourceURLs`,
                # `hostPID`, `$ref`), not where word boundaries genuinely differ (`subResource`).
                if elsewhere and re.search(r"[A-Z]{2}|[^A-Za-z0-9]", elsewhere):
                    json_name = elsewhere
                if schema is not None:
                    unmatched.append(f"{name}.{rust_name}")
            flag = " required" if json_name in required else ""
            out.append(f"F {tag} {json_name} {label} {typ}{flag}")
    print("\n".join(out))
    if unmatched:
        print(f"{len(unmatched)} fields not in the OpenAPI definitions (camelCased): {unmatched}", file=sys.stderr)


if __name__ == "__main__":
    main()
