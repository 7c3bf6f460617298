//! Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`) to the JSON the same
//! object has in `application/json`.
//!
//! Generic and driven by the vendored schema ([`crate::schema`]): every message is walked field by
//! field, named with its JSON name, and given JSON presence the way Go's encoding/json would after
//! the apiserver's protobuf decoder filled the Go struct. Types whose JSON form differs from their
//! message structure are delegated to [`crate::wellknown`].

use std::collections::BTreeMap;

use serde_json::{Map, Number, Value};

use crate::error::{DecodeError, FieldError};
use crate::schema::{Field, FieldType, Label, Message, Scalar, Schema};
use crate::wellknown::{WellKnown, base64};
use crate::wire::{FieldReader, WireType, WireValue, packed_varints};

/// The four bytes every Kubernetes protobuf body starts with.
pub const PROTOBUF_MAGIC: [u8; 4] = *b"k8s\0";

/// Whether `body` carries the Kubernetes protobuf magic prefix.
pub fn is_protobuf(body: &[u8]) -> bool {
    body.starts_with(&PROTOBUF_MAGIC)
}

/// Decodes a Kubernetes protobuf body (`k8s\0` + `runtime.Unknown`) to the object's JSON form:
/// `kind` and `apiVersion` first, JSON field names, `Time` as RFC 3339, `Quantity` and
/// `IntOrString` as their JSON forms, `bytes` as base64, maps as objects, and zero values omitted
/// wherever Go's JSON encoding omits them.
///
/// Errors: [`DecodeError::MissingMagic`], [`DecodeError::Envelope`], [`DecodeError::UnknownKind`]
/// (the server answers 415) and [`DecodeError::Field`] (malformed data, with the field path).
pub fn decode_object(body: &[u8]) -> Result<Value, DecodeError> {
    let envelope = body
        .strip_prefix(&PROTOBUF_MAGIC)
        .ok_or(DecodeError::MissingMagic)?;
    let unknown = Envelope::parse(envelope)?;
    if !unknown.content_encoding.is_empty() {
        return Err(DecodeError::ContentEncoding {
            encoding: unknown.content_encoding,
        });
    }
    let schema = Schema::get()?;
    let message = schema
        .kind(&unknown.api_version, &unknown.kind)
        .ok_or_else(|| DecodeError::UnknownKind {
            api_version: unknown.api_version.clone(),
            kind: unknown.kind.clone(),
        })?;
    let mut path = Vec::new();
    let fields = Decoder { schema }
        .object(message, unknown.raw, &mut path)
        .map_err(|(path, reason)| DecodeError::Field {
            api_version: unknown.api_version.clone(),
            kind: unknown.kind.clone(),
            path,
            reason,
        })?;
    let mut object = Map::new();
    object.insert("kind".into(), Value::String(unknown.kind));
    object.insert("apiVersion".into(), Value::String(unknown.api_version));
    object.extend(fields);
    Ok(Value::Object(object))
}

/// How deep (fields plus list indexes and map keys) a decoded value may nest. Real objects stay far
/// below it (a Deployment's container env entry is 8 deep; a CRD schema 25 objects deep is ~56).
/// At this depth an unoptimised build uses under 512 KiB of stack (tested), a quarter of a tokio
/// worker's 2 MiB.
const MAX_PATH_DEPTH: usize = 64;

/// Every `(apiVersion, kind)` [`decode_object`] accepts, sorted.
pub fn supported_kinds() -> Result<Vec<(&'static str, &'static str)>, DecodeError> {
    Ok(Schema::get()?.kinds())
}

/// `runtime.Unknown{typeMeta=1{apiVersion=1, kind=2}, raw=2, contentEncoding=3, contentType=4}`.
struct Envelope<'a> {
    api_version: String,
    kind: String,
    raw: &'a [u8],
    content_encoding: String,
}

impl<'a> Envelope<'a> {
    fn parse(data: &'a [u8]) -> Result<Self, DecodeError> {
        let mut envelope = Envelope {
            api_version: String::new(),
            kind: String::new(),
            raw: &[],
            content_encoding: String::new(),
        };
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        for field in FieldReader::new(data) {
            match field.map_err(|source| DecodeError::Envelope { source })? {
                (1, WireValue::Bytes(type_meta)) => {
                    for tm in FieldReader::new(type_meta) {
                        match tm.map_err(|source| DecodeError::Envelope { source })? {
                            (1, WireValue::Bytes(v)) => envelope.api_version = text(v),
                            (2, WireValue::Bytes(v)) => envelope.kind = text(v),
                            _ => {}
                        }
                    }
                }
                (2, WireValue::Bytes(raw)) => envelope.raw = raw,
                (3, WireValue::Bytes(v)) => envelope.content_encoding = text(v),
                _ => {}
            }
        }
        if envelope.kind.is_empty() || envelope.api_version.is_empty() {
            return Err(DecodeError::MissingTypeMeta {
                api_version: envelope.api_version,
                kind: envelope.kind,
            });
        }
        Ok(envelope)
    }
}

/// A step in the path to the field being decoded, for error messages.
enum Step {
    Field(&'static str),
    Index(usize),
    Key(String),
}

fn render(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Field(name) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(name);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
            Step::Key(k) => out.push_str(&format!("[{k:?}]")),
        }
    }
    out
}

type Failed = (String, FieldError);

fn fail(path: &[Step], reason: FieldError) -> Failed {
    (render(path), reason)
}

struct Decoder<'s> {
    schema: &'s Schema,
}

impl Decoder<'_> {
    /// The JSON value of one message of type `name`.
    fn message_value(
        &self,
        name: &str,
        data: &[u8],
        path: &mut Vec<Step>,
    ) -> Result<Value, Failed> {
        // Each nesting level costs stack; a hostile body can nest a message in itself cheaply.
        if path.len() > MAX_PATH_DEPTH {
            return Err(fail(
                path,
                FieldError::TooDeep {
                    limit: MAX_PATH_DEPTH,
                },
            ));
        }
        if let Some(known) = WellKnown::of(name) {
            return known
                .to_json(data)
                .map_err(|reason| fail(path, FieldError::InvalidValue(reason)));
        }
        let message = self
            .schema
            .message(name)
            .ok_or_else(|| fail(path, FieldError::UnknownMessage(name.to_string())))?;
        if message.wrapper {
            // A named Go slice (`ExtraValue`, `Verbs`): JSON is the `items` array.
            let items = self.object(message, data, path)?;
            return Ok(items.get("items").cloned().unwrap_or(Value::Null));
        }
        if let Some(value) = self.schema_props_union(message, data, path)? {
            return Ok(value);
        }
        Ok(Value::Object(self.object(message, data, path)?))
    }

    /// apiextensions' `JSONSchemaPropsOrBool` {allows=1, schema=2}, `...OrArray` {schema=1,
    /// JSONSchemas=2} and `...OrStringArray` {schema=1, property=2} marshal as one member: the
    /// list when it is non-empty (the schema for OrBool), else the other member.
    fn schema_props_union(
        &self,
        message: &Message,
        data: &[u8],
        path: &mut Vec<Step>,
    ) -> Result<Option<Value>, Failed> {
        if !message.name.starts_with("io.k8s.apiextensions-apiserver.") {
            return Ok(None);
        }
        let Some((package, short)) = message.name.rsplit_once('.') else {
            return Ok(None);
        };
        if !matches!(
            short,
            "JSONSchemaPropsOrBool" | "JSONSchemaPropsOrArray" | "JSONSchemaPropsOrStringArray"
        ) {
            return Ok(None);
        }
        let props = format!("{package}.JSONSchemaProps");
        let (mut first, mut second) = (Vec::new(), Vec::new());
        for record in FieldReader::new(data) {
            match record.map_err(|e| fail(path, FieldError::Wire(e)))? {
                (1, v) => first.push(v),
                (2, v) => second.push(v),
                _ => {}
            }
        }
        let schema = |value: Option<&WireValue<'_>>,
                      path: &mut Vec<Step>|
         -> Result<Option<Value>, Failed> {
            match value {
                Some(v) => {
                    let bytes = expect_bytes(*v).map_err(|e| fail(path, e))?;
                    self.message_value(&props, bytes, path).map(Some)
                }
                None => Ok(None),
            }
        };
        let value = match short {
            "JSONSchemaPropsOrBool" => match schema(second.last(), path)? {
                Some(schema) => schema,
                None => Value::Bool(matches!(first.last(), Some(WireValue::Varint(v)) if *v != 0)),
            },
            "JSONSchemaPropsOrArray" if !second.is_empty() => {
                let mut items = Vec::new();
                for v in &second {
                    items.extend(schema(Some(v), path)?);
                }
                Value::Array(items)
            }
            "JSONSchemaPropsOrStringArray" if !second.is_empty() => {
                let mut items = Vec::new();
                for v in &second {
                    items.push(scalar_value(Scalar::String, *v).map_err(|e| fail(path, e))?);
                }
                Value::Array(items)
            }
            _ => schema(first.last(), path)?.unwrap_or(Value::Null),
        };
        Ok(Some(value))
    }

    /// The JSON object of a message: every field in number order, inline structs flattened.
    fn object(
        &self,
        message: &Message,
        data: &[u8],
        path: &mut Vec<Step>,
    ) -> Result<Map<String, Value>, Failed> {
        let mut slots: Vec<Vec<WireValue<'_>>> = vec![Vec::new(); message.fields.len()];
        for record in FieldReader::new(data) {
            let (number, value) = record.map_err(|e| fail(path, FieldError::Wire(e)))?;
            // Unknown field numbers are skipped, as the apiserver's generated decoder does.
            if let Ok(i) = message.fields.binary_search_by_key(&number, |f| f.number) {
                slots[i].push(value);
            }
        }
        let mut object = Map::new();
        for (field, values) in message.fields.iter().zip(slots) {
            if field.inline {
                if let (Some(WireValue::Bytes(data)), FieldType::Message(name)) =
                    (values.last(), field.ty)
                    && let Value::Object(inner) = self.message_value(name, data, path)?
                {
                    object.extend(inner);
                }
                continue;
            }
            path.push(Step::Field(field.json_name));
            let value = self.field_value(field, &values, path)?;
            path.pop();
            if let Some(value) = value {
                object.insert(field.json_name.to_string(), value);
            }
        }
        Ok(object)
    }

    /// A field's JSON value, or `None` when Go's encoding/json would omit it.
    fn field_value(
        &self,
        field: &Field,
        values: &[WireValue<'_>],
        path: &mut Vec<Step>,
    ) -> Result<Option<Value>, Failed> {
        if values.is_empty() {
            return Ok(field.always.then(|| absent_value(field)));
        }
        match field.label {
            Label::Optional => self.single_value(field, values, path),
            Label::Repeated => self.list_value(field, values, path),
            Label::Map(key_type) => self.map_value(field, key_type, values, path),
        }
    }

    /// An optional field: the last record wins, as in protobuf.
    fn single_value(
        &self,
        field: &Field,
        values: &[WireValue<'_>],
        path: &mut Vec<Step>,
    ) -> Result<Option<Value>, Failed> {
        let Some(last) = values.last() else {
            return Ok(None);
        };
        match field.ty {
            FieldType::Scalar(scalar) => {
                let value = scalar_value(scalar, *last).map_err(|e| fail(path, e))?;
                let keep = field.pointer || field.always || !is_zero(&value);
                Ok(keep.then_some(value))
            }
            FieldType::Message(name) => {
                let data = expect_bytes(*last).map_err(|e| fail(path, e))?;
                self.message_value(name, data, path).map(Some)
            }
        }
    }

    fn list_value(
        &self,
        field: &Field,
        values: &[WireValue<'_>],
        path: &mut Vec<Step>,
    ) -> Result<Option<Value>, Failed> {
        let mut items = Vec::new();
        for value in values {
            match field.ty {
                FieldType::Scalar(scalar) => {
                    push_scalars(scalar, *value, &mut items).map_err(|e| fail(path, e))?
                }
                FieldType::Message(name) => {
                    path.push(Step::Index(items.len()));
                    let data = expect_bytes(*value).map_err(|e| fail(path, e))?;
                    items.push(self.message_value(name, data, path)?);
                    path.pop();
                }
            }
        }
        Ok(Some(Value::Array(items)))
    }

    fn map_value(
        &self,
        field: &Field,
        key_type: Scalar,
        values: &[WireValue<'_>],
        path: &mut Vec<Step>,
    ) -> Result<Option<Value>, Failed> {
        // Go's encoding/json writes map keys sorted.
        let mut entries = BTreeMap::new();
        for value in values {
            let entry = expect_bytes(*value).map_err(|e| fail(path, e))?;
            let (key, value) = self.map_entry(field, key_type, entry, path)?;
            entries.insert(key, value);
        }
        Ok(Some(Value::Object(entries.into_iter().collect())))
    }

    /// One map entry message: `key = 1`, `value = 2`; a missing part is its type's zero value.
    fn map_entry(
        &self,
        field: &Field,
        key_type: Scalar,
        entry: &[u8],
        path: &mut Vec<Step>,
    ) -> Result<(String, Value), Failed> {
        let mut key = None;
        let mut value = None;
        for record in FieldReader::new(entry) {
            match record.map_err(|e| fail(path, FieldError::Wire(e)))? {
                (1, v) => key = Some(v),
                (2, v) => value = Some(v),
                _ => {}
            }
        }
        let key = match key {
            Some(k) => scalar_value(key_type, k).map_err(|e| fail(path, e))?,
            None => zero_value(key_type),
        };
        let key = match key {
            Value::String(s) => s,
            other => other.to_string(),
        };
        path.push(Step::Key(key.clone()));
        let value = match (field.ty, value) {
            (FieldType::Scalar(s), Some(v)) => scalar_value(s, v).map_err(|e| fail(path, e))?,
            (FieldType::Scalar(s), None) => zero_value(s),
            (FieldType::Message(name), v) => {
                let data = match v {
                    Some(v) => expect_bytes(v).map_err(|e| fail(path, e))?,
                    None => &[],
                };
                self.message_value(name, data, path)?
            }
        };
        path.pop();
        Ok((key, value))
    }
}

/// The JSON of a field Go always writes but the body did not carry: nil pointer, slice or map is
/// `null`; a plain scalar is its zero value.
fn absent_value(field: &Field) -> Value {
    match (field.label, field.ty) {
        (Label::Optional, FieldType::Scalar(Scalar::Bytes)) => Value::Null,
        (Label::Optional, FieldType::Scalar(scalar)) if !field.pointer => zero_value(scalar),
        _ => Value::Null,
    }
}

fn zero_value(scalar: Scalar) -> Value {
    match scalar {
        Scalar::String | Scalar::Bytes => Value::String(String::new()),
        Scalar::Bool => Value::Bool(false),
        Scalar::Int32 | Scalar::Int64 | Scalar::Double => Value::from(0),
    }
}

fn is_zero(value: &Value) -> bool {
    match value {
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        _ => false,
    }
}

fn expect_bytes(value: WireValue<'_>) -> Result<&[u8], FieldError> {
    match value {
        WireValue::Bytes(b) => Ok(b),
        other => Err(FieldError::WrongWireType {
            expected: WireType::LengthDelimited,
            found: other.wire_type(),
        }),
    }
}

fn scalar_value(scalar: Scalar, value: WireValue<'_>) -> Result<Value, FieldError> {
    let wrong = |expected| FieldError::WrongWireType {
        expected,
        found: value.wire_type(),
    };
    Ok(match (scalar, value) {
        // Go's encoding/json replaces invalid UTF-8 with U+FFFD, as from_utf8_lossy does.
        (Scalar::String, WireValue::Bytes(b)) => {
            Value::String(String::from_utf8_lossy(b).into_owned())
        }
        (Scalar::Bytes, WireValue::Bytes(b)) => Value::String(base64(b)),
        (Scalar::Bool, WireValue::Varint(v)) => Value::Bool(v != 0),
        (Scalar::Int32, WireValue::Varint(v)) => Value::from(v as i64 as i32),
        (Scalar::Int64, WireValue::Varint(v)) => Value::from(v as i64),
        (Scalar::Double, WireValue::Fixed64(bits)) => double_value(f64::from_bits(bits)),
        (Scalar::String | Scalar::Bytes, _) => return Err(wrong(WireType::LengthDelimited)),
        (Scalar::Bool | Scalar::Int32 | Scalar::Int64, _) => return Err(wrong(WireType::Varint)),
        (Scalar::Double, _) => return Err(wrong(WireType::Fixed64)),
    })
}

/// Go prints integral floats without a fraction (`1`, not `1.0`); keep them integers in JSON.
fn double_value(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        Value::from(f as i64)
    } else {
        Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

/// Appends one repeated scalar record, which may be packed (several varints or doubles in one record).
fn push_scalars(
    scalar: Scalar,
    value: WireValue<'_>,
    items: &mut Vec<Value>,
) -> Result<(), FieldError> {
    match (scalar, value) {
        (Scalar::Bool | Scalar::Int32 | Scalar::Int64, WireValue::Bytes(packed)) => {
            for v in packed_varints(packed).map_err(FieldError::Wire)? {
                items.push(scalar_value(scalar, WireValue::Varint(v))?);
            }
        }
        (Scalar::Double, WireValue::Bytes(packed)) => {
            if packed.len() % 8 != 0 {
                return Err(FieldError::InvalidValue(
                    "packed doubles not a multiple of 8 bytes".into(),
                ));
            }
            for chunk in packed.chunks_exact(8) {
                let mut buf = [0u8; 8];
                buf.copy_from_slice(chunk);
                items.push(double_value(f64::from_le_bytes(buf)));
            }
        }
        _ => items.push(scalar_value(scalar, value)?),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::MessageWriter;
    use serde_json::json;

    fn envelope(api_version: &str, kind: &str, raw: MessageWriter) -> Vec<u8> {
        let mut type_meta = MessageWriter::new();
        type_meta.string(1, api_version);
        type_meta.string(2, kind);
        let mut unknown = MessageWriter::new();
        unknown.message(1, type_meta);
        unknown.message(2, raw);
        let mut body = PROTOBUF_MAGIC.to_vec();
        body.extend(unknown.into_bytes());
        body
    }

    #[test]
    fn unknown_kind_names_api_version_and_kind() {
        let err =
            decode_object(&envelope("example.com/v1", "Widget", MessageWriter::new())).unwrap_err();
        assert!(
            matches!(&err, DecodeError::UnknownKind { api_version, kind }
            if api_version == "example.com/v1" && kind == "Widget")
        );
        assert!(
            err.to_string().contains("example.com/v1") && err.to_string().contains("Widget"),
            "{err}"
        );
    }

    #[test]
    fn body_without_magic_is_rejected() {
        assert!(matches!(
            decode_object(b"{\"kind\":\"x\"}"),
            Err(DecodeError::MissingMagic)
        ));
    }

    #[test]
    fn wrong_wire_type_reports_the_field_path() {
        let mut meta = MessageWriter::new();
        meta.int64(1, 5); // ObjectMeta.name must be a string
        let mut cm = MessageWriter::new();
        cm.message(1, meta);
        let err = decode_object(&envelope("v1", "ConfigMap", cm)).unwrap_err();
        match err {
            DecodeError::Field { path, kind, .. } => {
                assert_eq!(path, "metadata.name");
                assert_eq!(kind, "ConfigMap");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn zero_scalars_are_omitted_unless_pointer_or_required() {
        // Go's protobuf encoder writes non-pointer scalars even at zero, as these records do.
        let mut port = MessageWriter::new();
        port.varint_always(3, 0); // port: required, kept
        port.varint_always(5, 0); // nodePort: omitempty, dropped
        let mut spec = MessageWriter::new();
        spec.message(1, port);
        spec.varint_always(20, 0); // allocateLoadBalancerNodePorts: *bool, kept
        let mut svc = MessageWriter::new();
        svc.message(2, spec);
        let v = decode_object(&envelope("v1", "Service", svc)).unwrap();
        assert_eq!(
            v,
            json!({"kind": "Service", "apiVersion": "v1",
                   "spec": {"ports": [{"port": 0}], "allocateLoadBalancerNodePorts": false}})
        );
    }

    #[test]
    fn crd_schema_unions_and_raw_json_take_their_json_forms() {
        // openAPIV3Schema: {type: object, minimum: 0 (pointer), additionalProperties: false,
        //   properties: {tags: {type: array, items: {type: string}, default: ["a"]}}}
        let mut string_schema = MessageWriter::new();
        string_schema.string(5, "string");
        let mut items = MessageWriter::new(); // JSONSchemaPropsOrArray.schema = 1
        items.message(1, string_schema);
        let mut default = MessageWriter::new(); // JSON.raw = 1
        default.string(1, r#"["a"]"#);
        let mut tags = MessageWriter::new();
        tags.string(5, "array");
        tags.message(8, default);
        tags.message(24, items);
        let mut entry = MessageWriter::new();
        entry.string(1, "tags");
        entry.message(2, tags);
        let mut no_extra = MessageWriter::new(); // JSONSchemaPropsOrBool.allows = 1 (false)
        no_extra.varint_always(1, 0);
        let mut root = MessageWriter::new();
        root.string(5, "object");
        root.double_always(11, 0.0);
        root.message(29, entry);
        root.message(30, no_extra);
        let mut validation = MessageWriter::new();
        validation.message(1, root);
        let mut version = MessageWriter::new();
        version.string(1, "v1");
        version.varint_always(2, 1);
        version.varint_always(3, 1);
        version.message(4, validation);
        let mut spec = MessageWriter::new();
        spec.string(1, "example.com");
        spec.message(7, version);
        let mut crd = MessageWriter::new();
        crd.message(2, spec);
        let v = decode_object(&envelope(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            crd,
        ))
        .unwrap();
        assert_eq!(
            v["spec"]["versions"][0],
            json!({"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {
                "type": "object", "minimum": 0, "additionalProperties": false,
                "properties": {"tags": {"type": "array", "default": ["a"], "items": {"type": "string"}}}}}})
        );
    }

    #[test]
    fn self_nesting_beyond_the_depth_limit_is_an_error_not_a_stack_overflow() {
        // JSONSchemaProps.not (28) holds a JSONSchemaProps: nest it 10_000 times.
        let mut inner = MessageWriter::new();
        for _ in 0..10_000 {
            let mut outer = MessageWriter::new();
            outer.message(28, inner);
            inner = outer;
        }
        let mut validation = MessageWriter::new();
        validation.message(1, inner);
        let mut version = MessageWriter::new();
        version.message(4, validation);
        let mut spec = MessageWriter::new();
        spec.message(7, version);
        let mut crd = MessageWriter::new();
        crd.message(2, spec);
        let body = envelope("apiextensions.k8s.io/v1", "CustomResourceDefinition", crd);
        // A quarter of a default thread stack: the limit leaves room in unoptimised builds too.
        let err = std::thread::Builder::new()
            .stack_size(1 << 19)
            .spawn(move || decode_object(&body).unwrap_err())
            .unwrap()
            .join()
            .unwrap();
        assert!(
            matches!(
                &err,
                DecodeError::Field {
                    reason: FieldError::TooDeep { .. },
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn unknown_field_numbers_are_skipped() {
        let mut cm = MessageWriter::new();
        cm.string(99, "from a newer Kubernetes");
        let v = decode_object(&envelope("v1", "ConfigMap", cm)).unwrap();
        assert_eq!(v, json!({"kind": "ConfigMap", "apiVersion": "v1"}));
    }

    #[test]
    fn supported_kinds_include_every_kubectl_create_kind() {
        let kinds = supported_kinds().unwrap();
        for (av, kind) in [
            ("v1", "Namespace"),
            ("apps/v1", "Deployment"),
            ("policy/v1", "PodDisruptionBudget"),
            ("authentication.k8s.io/v1", "TokenRequest"),
            ("scheduling.k8s.io/v1", "PriorityClass"),
        ] {
            assert!(kinds.contains(&(av, kind)), "{av} {kind}");
        }
    }
}
