//! A small serde deserializer for JSON text: [`from_str`] reads any `Deserialize` type as
//! `serde_json::from_str` does (same texts accepted, same values), without serde_json's code
//! and without formatting error messages: an error is only [`JsonError`].
//!
//! For the page's call core, which reads the crypto Worker's results and the `joinCall`
//! options with the serde derives of `sotto-call`: serde_json's deserializer, its error
//! messages and the float formatting they pull in were a third of that wasm module.
//! `tests/json_differential.rs` (in sotto-call-wasm) compares the two on the types read this
//! way, on arbitrary and mutated texts.
//!
//! One difference, for types that do not exist here: a fractional or exponent number is only
//! refused (serde_json hands the visitor an `f64`); every type read with this accepts only
//! whole numbers, where serde_json refuses floats too.
use serde::de::value::StringDeserializer;
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};
use serde::{ser, Serialize};

use crate::codec::{Bad, Reader, R};

/// Why a text was refused. Carries nothing: no input is ever quoted back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonError;

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not valid JSON of the expected shape")
    }
}

impl std::error::Error for JsonError {}

impl de::Error for JsonError {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        JsonError
    }
}

impl From<Bad> for JsonError {
    fn from(_: Bad) -> Self {
        JsonError
    }
}

/// Reads a `T` from the whole of `text` (whitespace around it allowed).
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, JsonError> {
    let mut de = Deserializer(Reader::new(text));
    let value = T::deserialize(&mut de)?;
    if de.0.at_end() {
        Ok(value)
    } else {
        Err(JsonError)
    }
}

/// A word (`"connected"`, `"video"`) read as the unit variant of `T` it names.
pub fn word<T: DeserializeOwned>(text: &str) -> Result<T, JsonError> {
    T::deserialize(IntoDeserializer::<JsonError>::into_deserializer(text))
}

struct Deserializer<'a>(Reader<'a>);

enum Number {
    U64(u64),
    I64(i64),
}

impl Deserializer<'_> {
    fn peek(&mut self) -> R<u8> {
        self.0.peek().ok_or(Bad::Syntax)
    }

    /// A whole number: non-negative as `U64`, negative as `I64` (serde_json's split); a
    /// fraction, an exponent, `-0` or a value out of range is refused.
    fn number(&mut self) -> R<Number> {
        self.0.peek();
        let start = self.0.i;
        self.0.skip_number()?;
        let raw = self.0.raw(start);
        let (negative, digits) = match raw.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, raw),
        };
        if !digits.bytes().all(|c| c.is_ascii_digit()) {
            return Err(Bad::Shape);
        }
        let mut n: u64 = 0;
        for c in digits.bytes() {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(c - b'0')))
                .ok_or(Bad::Shape)?;
        }
        if !negative {
            return Ok(Number::U64(n));
        }
        match i64::try_from(n) {
            Ok(m) if m > 0 => Ok(Number::I64(-m)),
            _ if n == 1 << 63 => Ok(Number::I64(i64::MIN)),
            _ => Err(Bad::Shape),
        }
    }

    fn null(&mut self) -> R<()> {
        if self.peek()? != b'n' {
            return Err(Bad::Shape);
        }
        self.0.i += 1;
        self.0.ident(b"ull")
    }

    fn boolean(&mut self) -> R<bool> {
        match self.peek()? {
            b't' => {
                self.0.i += 1;
                self.0.ident(b"rue")?;
                Ok(true)
            }
            b'f' => {
                self.0.i += 1;
                self.0.ident(b"alse")?;
                Ok(false)
            }
            _ => Err(Bad::Shape),
        }
    }

    /// Steps into a `[` or `{` if that is what comes next.
    fn open(&mut self, c: u8) -> bool {
        let open = self.0.peek() == Some(c);
        if open {
            self.0.i += 1;
        }
        open
    }

    fn seq<'de, V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, JsonError> {
        let value = visitor.visit_seq(Seq {
            de: self,
            first: true,
        })?;
        self.0.eat(b']')?;
        Ok(value)
    }

    fn map<'de, V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, JsonError> {
        let value = visitor.visit_map(Map {
            de: self,
            first: true,
        })?;
        self.0.eat(b'}')?;
        Ok(value)
    }

    fn string(&mut self) -> R<String> {
        if self.peek()? != b'"' {
            return Err(Bad::Shape);
        }
        self.0.i += 1;
        self.0.str_body()
    }
}

macro_rules! forward_to_u64 {
    ($($name:ident)*) => {
        $(
            fn $name<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, JsonError> {
                self.deserialize_u64(visitor)
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for &mut Deserializer<'_> {
    type Error = JsonError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, JsonError> {
        match self.peek()? {
            b'n' => self.deserialize_unit(visitor),
            b't' | b'f' => self.deserialize_bool(visitor),
            b'-' | b'0'..=b'9' => self.deserialize_u64(visitor),
            b'"' => self.deserialize_string(visitor),
            b'[' => self.deserialize_seq(visitor),
            b'{' => self.deserialize_map(visitor),
            _ => Err(JsonError),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, JsonError> {
        let b = self.boolean()?;
        visitor.visit_bool(b)
    }

    /// Every integer type: serde_json hands the visitor a `u64` (or an `i64` when negative)
    /// and the visitor checks the range.
    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, JsonError> {
        match self.number()? {
            Number::U64(n) => visitor.visit_u64(n),
            Number::I64(n) => visitor.visit_i64(n),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, JsonError> {
        let s = self.string()?;
        visitor.visit_string(s)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, JsonError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, JsonError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, JsonError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, JsonError> {
        match self.peek()? {
            b'"' => {
                self.0.i += 1;
                let bytes = self.0.str_bytes(false)?;
                visitor.visit_byte_buf(bytes)
            }
            b'[' => self.deserialize_seq(visitor),
            _ => Err(JsonError),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, JsonError> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, JsonError> {
        if self.peek()? == b'n' {
            self.0.i += 1;
            self.0.ident(b"ull")?;
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, JsonError> {
        self.null()?;
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, JsonError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, JsonError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, JsonError> {
        if self.open(b'[') {
            self.seq(visitor)
        } else {
            Err(JsonError)
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, JsonError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, JsonError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, JsonError> {
        if self.open(b'{') {
            self.map(visitor)
        } else {
            Err(JsonError)
        }
    }

    /// An object, or (as serde_json) an array of the fields in order.
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, JsonError> {
        if self.open(b'{') {
            self.map(visitor)
        } else if self.open(b'[') {
            self.seq(visitor)
        } else {
            Err(JsonError)
        }
    }

    /// `"variant"` (a unit variant) or `{"variant": value}`.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, JsonError> {
        match self.peek()? {
            b'"' => {
                let variant = self.string()?;
                visitor.visit_enum(StringDeserializer::<JsonError>::new(variant))
            }
            b'{' => {
                self.0.i += 1;
                let value = visitor.visit_enum(Enum { de: &mut *self })?;
                self.0.eat(b'}')?;
                Ok(value)
            }
            _ => Err(JsonError),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, JsonError> {
        self.0.peek();
        self.0.skip_value()?;
        visitor.visit_unit()
    }

    forward_to_u64! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_f32 deserialize_f64
    }
}

struct Seq<'s, 'a> {
    de: &'s mut Deserializer<'a>,
    first: bool,
}

impl<'de> de::SeqAccess<'de> for Seq<'_, '_> {
    type Error = JsonError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, JsonError> {
        match self.de.peek()? {
            b']' => return Ok(None),
            b',' if !self.first => self.de.0.i += 1,
            _ if self.first => {}
            _ => return Err(JsonError),
        }
        self.first = false;
        seed.deserialize(&mut *self.de).map(Some)
    }
}

struct Map<'s, 'a> {
    de: &'s mut Deserializer<'a>,
    first: bool,
}

impl<'de> de::MapAccess<'de> for Map<'_, '_> {
    type Error = JsonError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, JsonError> {
        match self.de.peek()? {
            b'}' => return Ok(None),
            b',' if !self.first => self.de.0.i += 1,
            _ if self.first => {}
            _ => return Err(JsonError),
        }
        self.first = false;
        let key = self.de.string().map_err(|_| JsonError)?;
        seed.deserialize(StringDeserializer::<JsonError>::new(key))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, JsonError> {
        self.de.0.eat(b':')?;
        seed.deserialize(&mut *self.de)
    }
}

struct Enum<'s, 'a> {
    de: &'s mut Deserializer<'a>,
}

impl<'de> de::EnumAccess<'de> for Enum<'_, '_> {
    type Error = JsonError;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), JsonError> {
        let key = self.de.string()?;
        let variant = seed.deserialize(StringDeserializer::<JsonError>::new(key))?;
        self.de.0.eat(b':')?;
        Ok((variant, self))
    }
}

impl<'de> de::VariantAccess<'de> for Enum<'_, '_> {
    type Error = JsonError;

    fn unit_variant(self) -> Result<(), JsonError> {
        de::Deserialize::deserialize(&mut *self.de)
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, JsonError> {
        seed.deserialize(&mut *self.de)
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, JsonError> {
        de::Deserializer::deserialize_seq(&mut *self.de, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, JsonError> {
        de::Deserializer::deserialize_struct(&mut *self.de, "", fields, visitor)
    }
}

// ---- writing ----

impl ser::Error for JsonError {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        JsonError
    }
}

/// Writes `value` as compact JSON, byte for byte as `serde_json::to_string` does (checked by
/// `call/tests`' simulation on every action, and by the tests below), for types without
/// floats (a float is refused) and with string or integer map keys.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> Result<String, JsonError> {
    let mut out = String::new();
    value.serialize(Writer { out: &mut out })?;
    Ok(out)
}

struct Writer<'a> {
    out: &'a mut String,
}

/// A sequence or an object being written.
struct Compound<'a> {
    out: &'a mut String,
    first: bool,
    /// What closes it: `]`, `}`, or `}}` for a variant wrapping its value.
    close: &'static str,
}

impl Compound<'_> {
    fn comma(&mut self) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
    }

    fn key(&mut self, key: &str) {
        self.comma();
        crate::codec::write_str(self.out, key);
        self.out.push(':');
    }
}

fn open<'a>(
    out: &'a mut String,
    variant: Option<&str>,
    open: char,
    close: &'static str,
) -> Compound<'a> {
    if let Some(v) = variant {
        out.push('{');
        crate::codec::write_str(out, v);
        out.push(':');
    }
    out.push(open);
    Compound {
        out,
        first: true,
        close,
    }
}

fn integer(out: &mut String, n: u64, negative: bool) {
    if negative {
        out.push('-');
    }
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        #[allow(clippy::cast_possible_truncation)] // a digit
        {
            digits[i] = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        out.push(char::from(d));
    }
}

macro_rules! write_unsigned {
    ($($name:ident $t:ty)*) => {
        $(
            fn $name(self, v: $t) -> Result<(), JsonError> {
                integer(self.out, u64::from(v), false);
                Ok(())
            }
        )*
    };
}

macro_rules! write_signed {
    ($($name:ident $t:ty)*) => {
        $(
            fn $name(self, v: $t) -> Result<(), JsonError> {
                let v = i64::from(v);
                integer(self.out, v.unsigned_abs(), v < 0);
                Ok(())
            }
        )*
    };
}

impl<'a> ser::Serializer for Writer<'a> {
    type Ok = ();
    type Error = JsonError;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    write_unsigned! { serialize_u8 u8 serialize_u16 u16 serialize_u32 u32 serialize_u64 u64 }
    write_signed! { serialize_i8 i8 serialize_i16 i16 serialize_i32 i32 serialize_i64 i64 }

    fn serialize_bool(self, v: bool) -> Result<(), JsonError> {
        self.out.push_str(if v { "true" } else { "false" });
        Ok(())
    }

    fn serialize_f32(self, _: f32) -> Result<(), JsonError> {
        Err(JsonError)
    }

    fn serialize_f64(self, _: f64) -> Result<(), JsonError> {
        Err(JsonError)
    }

    fn serialize_char(self, v: char) -> Result<(), JsonError> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, v: &str) -> Result<(), JsonError> {
        crate::codec::write_str(self.out, v);
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), JsonError> {
        let mut seq = open(self.out, None, '[', "]");
        for &b in v {
            seq.comma();
            integer(seq.out, u64::from(b), false);
        }
        ser::SerializeSeq::end(seq)
    }

    fn serialize_none(self) -> Result<(), JsonError> {
        self.serialize_unit()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), JsonError> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), JsonError> {
        self.out.push_str("null");
        Ok(())
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<(), JsonError> {
        self.serialize_unit()
    }

    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), JsonError> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), JsonError> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), JsonError> {
        let out = self.out;
        out.push('{');
        crate::codec::write_str(out, variant);
        out.push(':');
        value.serialize(Writer { out: &mut *out })?;
        out.push('}');
        Ok(())
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'a>, JsonError> {
        Ok(open(self.out, None, '[', "]"))
    }

    fn serialize_tuple(self, len: usize) -> Result<Compound<'a>, JsonError> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        len: usize,
    ) -> Result<Compound<'a>, JsonError> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'a>, JsonError> {
        Ok(open(self.out, Some(variant), '[', "]}"))
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Compound<'a>, JsonError> {
        Ok(open(self.out, None, '{', "}"))
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Compound<'a>, JsonError> {
        Ok(open(self.out, None, '{', "}"))
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'a>, JsonError> {
        Ok(open(self.out, Some(variant), '{', "}}"))
    }
}

impl ser::SerializeSeq for Compound<'_> {
    type Ok = ();
    type Error = JsonError;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), JsonError> {
        self.comma();
        value.serialize(Writer { out: self.out })
    }

    fn end(self) -> Result<(), JsonError> {
        self.out.push_str(self.close);
        Ok(())
    }
}

impl ser::SerializeTuple for Compound<'_> {
    type Ok = ();
    type Error = JsonError;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), JsonError> {
        ser::SerializeSeq::serialize_element(self, value)
    }

    fn end(self) -> Result<(), JsonError> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for Compound<'_> {
    type Ok = ();
    type Error = JsonError;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), JsonError> {
        ser::SerializeSeq::serialize_element(self, value)
    }

    fn end(self) -> Result<(), JsonError> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleVariant for Compound<'_> {
    type Ok = ();
    type Error = JsonError;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), JsonError> {
        ser::SerializeSeq::serialize_element(self, value)
    }

    fn end(self) -> Result<(), JsonError> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = JsonError;

    /// Keys as serde_json writes them: strings as they are, integers quoted; nothing else.
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), JsonError> {
        self.comma();
        let mut text = String::new();
        key.serialize(Writer { out: &mut text })?;
        if !text.starts_with('"') {
            if text.is_empty() || !text.bytes().all(|c| c.is_ascii_digit() || c == b'-') {
                return Err(JsonError);
            }
            text = format!("\"{text}\"");
        }
        self.out.push_str(&text);
        self.out.push(':');
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), JsonError> {
        value.serialize(Writer { out: self.out })
    }

    fn end(self) -> Result<(), JsonError> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeStruct for Compound<'_> {
    type Ok = ();
    type Error = JsonError;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), JsonError> {
        self.key(key);
        value.serialize(Writer { out: self.out })
    }

    fn end(self) -> Result<(), JsonError> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeStructVariant for Compound<'_> {
    type Ok = ();
    type Error = JsonError;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), JsonError> {
        ser::SerializeStruct::serialize_field(self, key, value)
    }

    fn end(self) -> Result<(), JsonError> {
        ser::SerializeSeq::end(self)
    }
}
