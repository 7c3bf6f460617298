//! The protobuf wire format, both directions, with no schema knowledge.
//!
//! Kubernetes' generated.proto messages and gnostic's OpenAPI v2 document use only varints,
//! 64-bit fixed values (doubles) and length-delimited records, so that is all this reads and writes.

/// How a field's value is laid out on the wire (the low three bits of its key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireType {
    /// 0: a variable-length integer (ints, bools).
    Varint,
    /// 1: eight little-endian bytes (doubles).
    Fixed64,
    /// 2: a length prefix and bytes (strings, bytes, messages, packed repeated).
    LengthDelimited,
    /// 5: four little-endian bytes (floats).
    Fixed32,
}

/// One decoded field record: its number and raw value.
#[derive(Debug, Clone, Copy)]
pub(crate) enum WireValue<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32,
    Bytes(&'a [u8]),
}

impl WireValue<'_> {
    pub(crate) fn wire_type(&self) -> WireType {
        match self {
            WireValue::Varint(_) => WireType::Varint,
            WireValue::Fixed64(_) => WireType::Fixed64,
            WireValue::Fixed32 => WireType::Fixed32,
            WireValue::Bytes(_) => WireType::LengthDelimited,
        }
    }
}

/// Why a byte sequence is not a well-formed protobuf message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The input ended in the middle of a varint, a fixed value or a length-delimited record.
    #[error("truncated input at byte {offset}")]
    Truncated {
        /// Byte offset (within the message being read) where more input was needed.
        offset: usize,
    },
    /// A varint ran longer than 10 bytes.
    #[error("varint longer than 10 bytes at byte {offset}")]
    VarintTooLong {
        /// Byte offset of the varint's first byte.
        offset: usize,
    },
    /// Wire types 3 and 4 (groups) and 6/7 do not occur in Kubernetes messages.
    #[error("unsupported wire type {wire_type} for field {field} at byte {offset}")]
    UnsupportedWireType {
        /// The wire type from the field key.
        wire_type: u8,
        /// The field number from the field key.
        field: u64,
        /// Byte offset of the field key.
        offset: usize,
    },
    /// Field number 0 is reserved and never valid.
    #[error("field number 0 at byte {offset}")]
    FieldZero {
        /// Byte offset of the field key.
        offset: usize,
    },
}

/// Iterates over the field records of one message.
pub(crate) struct FieldReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> FieldReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        FieldReader { data, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, WireError> {
        let start = self.pos;
        let mut value: u64 = 0;
        for shift in 0..10 {
            let byte = *self
                .data
                .get(self.pos)
                .ok_or(WireError::Truncated { offset: self.pos })?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << (7 * shift);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(WireError::VarintTooLong { offset: start })
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], WireError> {
        let end = self
            .pos
            .checked_add(len)
            .filter(|end| *end <= self.data.len())
            .ok_or(WireError::Truncated { offset: self.pos })?;
        let slice = &self.data[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn next_field(&mut self) -> Result<(u32, WireValue<'a>), WireError> {
        let key_offset = self.pos;
        let key = self.varint()?;
        let field = key >> 3;
        if field == 0 {
            return Err(WireError::FieldZero { offset: key_offset });
        }
        let number = u32::try_from(field).map_err(|_| WireError::UnsupportedWireType {
            wire_type: (key & 7) as u8,
            field,
            offset: key_offset,
        })?;
        let value = match key & 7 {
            0 => WireValue::Varint(self.varint()?),
            1 => {
                let bytes = self.take(8)?;
                let mut buf = [0u8; 8];
                buf.copy_from_slice(bytes);
                WireValue::Fixed64(u64::from_le_bytes(buf))
            }
            2 => {
                let len = self.varint()?;
                let len =
                    usize::try_from(len).map_err(|_| WireError::Truncated { offset: self.pos })?;
                WireValue::Bytes(self.take(len)?)
            }
            5 => {
                // No Kubernetes or gnostic field is a 32-bit fixed value; skip its bytes.
                self.take(4)?;
                WireValue::Fixed32
            }
            other => {
                return Err(WireError::UnsupportedWireType {
                    wire_type: other as u8,
                    field,
                    offset: key_offset,
                });
            }
        };
        Ok((number, value))
    }
}

impl<'a> Iterator for FieldReader<'a> {
    type Item = Result<(u32, WireValue<'a>), WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.data.len() {
            return None;
        }
        let item = self.next_field();
        if item.is_err() {
            // Stop after the first malformed record: everything after it is unframed.
            self.pos = self.data.len();
        }
        Some(item)
    }
}

/// Reads the varints of a packed repeated scalar field.
pub(crate) fn packed_varints(data: &[u8]) -> Result<Vec<u64>, WireError> {
    let mut reader = FieldReader::new(data);
    let mut out = Vec::new();
    while reader.pos < data.len() {
        out.push(reader.varint()?);
    }
    Ok(out)
}

/// Appends protobuf field records to a buffer.
#[derive(Debug, Default)]
pub(crate) struct MessageWriter {
    buf: Vec<u8>,
}

impl MessageWriter {
    pub(crate) fn new() -> Self {
        MessageWriter::default()
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    fn raw_varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.buf.push((value as u8) | 0x80);
            value >>= 7;
        }
        self.buf.push(value as u8);
    }

    fn key(&mut self, field: u32, wire_type: u8) {
        self.raw_varint((u64::from(field) << 3) | u64::from(wire_type));
    }

    /// Writes a length-delimited record (string, bytes or embedded message) even when empty.
    pub(crate) fn bytes(&mut self, field: u32, value: &[u8]) {
        self.key(field, 2);
        self.raw_varint(value.len() as u64);
        self.buf.extend_from_slice(value);
    }

    /// Writes a proto3 string field; the empty string is the default and is not written.
    pub(crate) fn string(&mut self, field: u32, value: &str) {
        if !value.is_empty() {
            self.bytes(field, value.as_bytes());
        }
    }

    /// Writes a proto3 bool field; `false` is the default and is not written.
    pub(crate) fn bool(&mut self, field: u32, value: bool) {
        if value {
            self.key(field, 0);
            self.raw_varint(1);
        }
    }

    /// Writes a bool even when `false` (a `oneof` member, whose presence is the information).
    pub(crate) fn bool_always(&mut self, field: u32, value: bool) {
        self.key(field, 0);
        self.raw_varint(u64::from(value));
    }

    /// Writes a proto3 int64 field; zero is the default and is not written.
    pub(crate) fn int64(&mut self, field: u32, value: i64) {
        if value != 0 {
            self.key(field, 0);
            self.raw_varint(value as u64);
        }
    }

    /// Writes a varint field even when zero (as Go's gogo-generated Kubernetes code does).
    #[cfg(test)]
    pub(crate) fn varint_always(&mut self, field: u32, value: u64) {
        self.key(field, 0);
        self.raw_varint(value);
    }

    /// Writes a double even when zero (as Go's gogo-generated code does for set pointers).
    #[cfg(test)]
    pub(crate) fn double_always(&mut self, field: u32, value: f64) {
        self.key(field, 1);
        self.buf.extend_from_slice(&value.to_bits().to_le_bytes());
    }

    /// Writes a proto3 double field; zero is the default and is not written.
    pub(crate) fn double(&mut self, field: u32, value: f64) {
        if value != 0.0 {
            self.key(field, 1);
            self.buf.extend_from_slice(&value.to_bits().to_le_bytes());
        }
    }

    /// Writes an embedded message (always, even when it encodes to zero bytes: presence matters).
    pub(crate) fn message(&mut self, field: u32, message: MessageWriter) {
        self.bytes(field, &message.buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_output_reads_back_field_by_field() {
        let mut inner = MessageWriter::new();
        inner.string(1, "x");
        let mut w = MessageWriter::new();
        w.string(1, "hello");
        w.int64(2, 300);
        w.int64(3, -1);
        w.bool(4, true);
        w.double(5, 1.5);
        w.message(6, inner);
        w.string(7, "");
        let bytes = w.into_bytes();
        let fields: Vec<_> = FieldReader::new(&bytes).collect::<Result<_, _>>().unwrap();
        assert_eq!(fields.len(), 6, "the empty proto3 string is not written");
        assert!(matches!(fields[0], (1, WireValue::Bytes(b"hello"))));
        assert!(matches!(fields[1], (2, WireValue::Varint(300))));
        assert!(matches!(fields[2], (3, WireValue::Varint(u64::MAX))));
        assert!(matches!(fields[3], (4, WireValue::Varint(1))));
        assert!(matches!(fields[4], (5, WireValue::Fixed64(b)) if f64::from_bits(b) == 1.5));
        assert!(matches!(
            fields[5],
            (6, WireValue::Bytes(&[0x0a, 0x01, b'x']))
        ));
    }

    #[test]
    fn truncated_length_delimited_record_is_an_error() {
        // Field 1, wire type 2, length 5, but only 2 bytes follow.
        let bytes = [0x0a, 0x05, b'a', b'b'];
        let err = FieldReader::new(&bytes).next().unwrap().unwrap_err();
        assert_eq!(err, WireError::Truncated { offset: 2 });
    }

    #[test]
    fn group_wire_type_is_rejected() {
        let bytes = [0x0b]; // field 1, wire type 3 (start group)
        let err = FieldReader::new(&bytes).next().unwrap().unwrap_err();
        assert!(matches!(
            err,
            WireError::UnsupportedWireType {
                wire_type: 3,
                field: 1,
                ..
            }
        ));
    }

    #[test]
    fn packed_varints_read_every_value() {
        assert_eq!(
            packed_varints(&[0x01, 0xac, 0x02, 0x00]).unwrap(),
            vec![1, 300, 0]
        );
        assert!(packed_varints(&[0x80]).is_err());
    }
}
