use serde_json::{Value, json};

use super::encode_openapi_v2;
use crate::error::EncodeError;
use crate::wire::{FieldReader, WireValue};

/// All values of field `number` in a message.
fn all(data: &[u8], number: u32) -> Vec<WireValue<'_>> {
    FieldReader::new(data)
        .map(|r| r.expect("well-formed protobuf"))
        .filter(|(n, _)| *n == number)
        .map(|(_, v)| v)
        .collect()
}

/// The single length-delimited value of field `number`.
fn bytes(data: &[u8], number: u32) -> &[u8] {
    match all(data, number).as_slice() {
        [WireValue::Bytes(b)] => b,
        other => panic!("field {number}: expected one length-delimited value, found {other:?}"),
    }
}

fn text(data: &[u8], number: u32) -> &str {
    std::str::from_utf8(bytes(data, number)).expect("utf-8")
}

/// The `Named*` entry called `name` among the repeated field `number`.
fn named<'a>(data: &'a [u8], number: u32, name: &str) -> &'a [u8] {
    all(data, number)
        .into_iter()
        .filter_map(|v| match v {
            WireValue::Bytes(b) => Some(b),
            _ => None,
        })
        .find(|entry| text(entry, 1) == name)
        .map(|entry| bytes(entry, 2))
        .unwrap_or_else(|| panic!("no entry {name} in field {number}"))
}

fn patch_doc() -> Value {
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "v1.27.0"},
        "paths": {
            "/api/v1/namespaces/{namespace}/configmaps/{name}": {
                "parameters": [{"$ref": "#/parameters/namespace-vxjd"}],
                "patch": {
                    "operationId": "patchCoreV1NamespacedConfigMap",
                    "consumes": ["application/merge-patch+json"],
                    "parameters": [
                        {"name": "fieldValidation", "in": "query", "type": "string", "uniqueItems": true},
                        {"name": "body", "in": "body", "required": true, "schema": {"type": "object"}}
                    ],
                    "responses": {"200": {"description": "OK",
                                          "schema": {"$ref": "#/definitions/io.k8s.api.core.v1.ConfigMap"}}},
                    "x-kubernetes-action": "patch",
                    "x-kubernetes-group-version-kind": {"group": "", "kind": "ConfigMap", "version": "v1"}
                }
            }
        },
        "parameters": {"namespace-vxjd": {"name": "namespace", "in": "path", "required": true, "type": "string"}},
        "definitions": {
            "io.k8s.api.core.v1.ConfigMap": {
                "type": "object",
                "properties": {
                    "data": {"type": "object", "additionalProperties": {"type": "string"}},
                    "immutable": {"type": "boolean"},
                    "items": {"type": "array", "items": {"type": "string"}},
                    "closed": {"type": "object", "additionalProperties": false}
                },
                "x-kubernetes-group-version-kind": [{"group": "", "kind": "ConfigMap", "version": "v1"}]
            }
        }
    })
}

#[test]
fn document_scalars_and_info_are_encoded() {
    let doc = encode_openapi_v2(&patch_doc()).unwrap();
    assert_eq!(text(&doc, 1), "2.0");
    let info = bytes(&doc, 2);
    assert_eq!(text(info, 1), "Kubernetes");
    assert_eq!(text(info, 2), "v1.27.0");
}

#[test]
fn patch_operation_carries_gvk_extension_and_query_parameter() {
    let doc = encode_openapi_v2(&patch_doc()).unwrap();
    let paths = bytes(&doc, 8);
    let item = named(paths, 2, "/api/v1/namespaces/{namespace}/configmaps/{name}");
    let patch = bytes(item, 8);
    assert_eq!(text(patch, 5), "patchCoreV1NamespacedConfigMap");
    // x-kubernetes-group-version-kind: NamedAny whose Any.yaml (field 2) parses to the value.
    let gvk = named(patch, 13, "x-kubernetes-group-version-kind");
    let yaml: Value = serde_json::from_str(text(gvk, 2)).unwrap();
    assert_eq!(
        yaml,
        json!({"group": "", "kind": "ConfigMap", "version": "v1"})
    );
    // parameters[0]: ParametersItem.parameter(1) → Parameter.non_body_parameter(2) →
    // NonBodyParameter.query_parameter_sub_schema(3) → name(4), in(2), type(6), unique_items(20).
    let params = all(patch, 8);
    let WireValue::Bytes(first) = params[0] else {
        panic!("parameter")
    };
    let query = bytes(bytes(bytes(first, 1), 2), 3);
    assert_eq!(text(query, 4), "fieldValidation");
    assert_eq!(text(query, 2), "query");
    assert_eq!(text(query, 6), "string");
    assert!(matches!(all(query, 20).as_slice(), [WireValue::Varint(1)]));
    // parameters[1]: body → Parameter.body_parameter(1) with required(4) and schema(5).
    let WireValue::Bytes(second) = params[1] else {
        panic!("parameter")
    };
    let body = bytes(bytes(second, 1), 1);
    assert_eq!(text(body, 2), "body");
    assert!(matches!(all(body, 4).as_slice(), [WireValue::Varint(1)]));
    // responses(9) → response_code(1) "200" → ResponseValue.response(1) → schema(2) → SchemaItem.schema(1) → _ref(1)
    let ok = named(bytes(patch, 9), 1, "200");
    let schema = bytes(bytes(bytes(ok, 1), 2), 1);
    assert_eq!(
        text(schema, 1),
        "#/definitions/io.k8s.api.core.v1.ConfigMap"
    );
}

#[test]
fn references_become_json_references() {
    let doc = encode_openapi_v2(&patch_doc()).unwrap();
    let item = named(
        bytes(&doc, 8),
        2,
        "/api/v1/namespaces/{namespace}/configmaps/{name}",
    );
    // PathItem.parameters(9) → ParametersItem.json_reference(2) → _ref(1)
    assert_eq!(
        text(bytes(bytes(item, 9), 2), 1),
        "#/parameters/namespace-vxjd"
    );
    // Document.parameters(10) → NamedParameter → Parameter.non_body(2) → path sub schema(4)
    let global = named(bytes(&doc, 10), 1, "namespace-vxjd");
    let path_param = bytes(bytes(global, 2), 4);
    assert_eq!(text(path_param, 4), "namespace");
    assert!(matches!(
        all(path_param, 1).as_slice(),
        [WireValue::Varint(1)]
    ));
}

#[test]
fn definitions_keep_types_items_additional_properties_and_extensions() {
    let doc = encode_openapi_v2(&patch_doc()).unwrap();
    let cm = named(bytes(&doc, 9), 1, "io.k8s.api.core.v1.ConfigMap");
    assert_eq!(text(bytes(cm, 22), 1), "object"); // type → TypeItem.value
    let props = bytes(cm, 25);
    let data = named(props, 1, "data");
    // additionalProperties(21) → AdditionalPropertiesItem.schema(1) → type "string"
    assert_eq!(text(bytes(bytes(bytes(data, 21), 1), 22), 1), "string");
    let items = named(props, 1, "items");
    // items(23) → ItemsItem.schema(1) → type "string"
    assert_eq!(text(bytes(bytes(bytes(items, 23), 1), 22), 1), "string");
    // additionalProperties: false must be written explicitly (oneof member).
    let closed = named(props, 1, "closed");
    assert!(matches!(
        all(bytes(closed, 21), 2).as_slice(),
        [WireValue::Varint(0)]
    ));
    let gvk = named(cm, 31, "x-kubernetes-group-version-kind");
    let yaml: Value = serde_json::from_str(text(gvk, 2)).unwrap();
    assert_eq!(yaml[0]["kind"], "ConfigMap");
}

#[test]
fn unknown_swagger_keys_are_rejected_with_their_path() {
    let mut doc = patch_doc();
    doc["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}"]["patch"]["bogus"] = json!(1);
    let err = encode_openapi_v2(&doc).unwrap_err();
    assert_eq!(
        err,
        EncodeError::UnsupportedKey {
            path: "#/paths/~1api~1v1~1namespaces~1{namespace}~1configmaps~1{name}/patch".into(),
            key: "bogus".into()
        }
    );
}

#[test]
fn wrong_value_types_and_missing_parameter_location_are_errors() {
    let mut doc = patch_doc();
    doc["info"]["title"] = json!(5);
    assert!(
        matches!(encode_openapi_v2(&doc), Err(EncodeError::WrongType { path, .. }) if path == "#/info/title")
    );
    let mut doc = patch_doc();
    doc["parameters"]["namespace-vxjd"]
        .as_object_mut()
        .unwrap()
        .remove("in");
    assert!(matches!(
        encode_openapi_v2(&doc),
        Err(EncodeError::Missing { member: "in", .. })
    ));
}

#[test]
fn security_definitions_and_requirements_are_encoded() {
    let doc = json!({
        "swagger": "2.0",
        "info": {"title": "t", "version": "v"},
        "paths": {},
        "securityDefinitions": {"BearerToken": {"type": "apiKey", "name": "authorization", "in": "header"}},
        "security": [{"BearerToken": []}]
    });
    let bytes_out = encode_openapi_v2(&doc).unwrap();
    let def = named(bytes(&bytes_out, 13), 1, "BearerToken");
    let api_key = bytes(def, 2); // SecurityDefinitionsItem.api_key_security
    assert_eq!(text(api_key, 2), "authorization");
    let requirement = bytes(&bytes_out, 12);
    let entry = named(requirement, 1, "BearerToken");
    assert!(entry.is_empty(), "empty StringArray");
}
