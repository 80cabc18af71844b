//! The errors of the edges: [`DecodeError`], which every wire-to-domain conversion returns,
//! [`TextError`], which every text form's `FromStr` returns, and [`KeyError`] for keys and ids.
//! A value of a domain type is always valid: anything that could not be one is rejected at
//! the edge, with the reason. A leaf module: it depends on nothing else in the crate.

/// Why a wire message could not become a domain value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes are not a protobuf message of the expected type.
    #[error("malformed protobuf: {0}")]
    Protobuf(String),
    /// A required field is absent.
    #[error("missing field `{0}`")]
    Missing(&'static str),
    /// An enum holds a value this version does not know, or the unspecified value.
    #[error("unknown value {value} for `{field}`")]
    UnknownEnum {
        /// The field.
        field: &'static str,
        /// The value received.
        value: i32,
    },
    /// A list, string or byte field is longer than the protocol allows.
    #[error("`{field}` is too long: {actual} > {max}")]
    TooLong {
        /// The field.
        field: &'static str,
        /// The most allowed.
        max: usize,
        /// What was received.
        actual: usize,
    },
    /// A text holds control characters (terminal escapes, line breaks, bidirectional
    /// controls).
    #[error("`{0}` holds control characters (terminal escapes, line breaks or bidirectional controls)")]
    NotPrintable(&'static str),
    /// A key, signature or id is malformed.
    #[error("`{field}`: {source}")]
    Key {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        source: KeyError,
    },
    /// A field holds a value outside its domain.
    #[error("`{field}` is invalid: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Why a key, signature or id could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The bytes have the wrong length.
    #[error("expected {expected} bytes, got {actual}")]
    Length {
        /// Length required.
        expected: usize,
        /// Length given.
        actual: usize,
    },
    /// The bytes are not a valid ed25519 public key.
    #[error("not a valid ed25519 public key")]
    InvalidPublicKey,
}

/// Why a text form (a duration `30d`, an amount `120 EUR`, a use `once`, ...) could not be
/// read: what was given, what it should have been, and how to write it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not {what}; {hint}")]
pub struct TextError {
    /// The text given.
    pub text: String,
    /// What it should have been, with its article: `a duration`.
    pub what: &'static str,
    /// How to write it, e.g. `use a number and a unit, e.g. 30d`.
    pub hint: String,
}

impl TextError {
    /// `text` is not `what`; `hint` says how to write one.
    pub fn new(text: &str, what: &'static str, hint: impl Into<String>) -> Self {
        TextError { text: text.to_owned(), what, hint: hint.into() }
    }
}

impl From<prost::DecodeError> for DecodeError {
    fn from(error: prost::DecodeError) -> Self {
        DecodeError::Protobuf(error.to_string())
    }
}

/// Reads a fixed-size key, signature or id from wire bytes, naming the field on error.
pub(crate) fn key<T: for<'a> TryFrom<&'a [u8], Error = KeyError>>(
    field: &'static str,
    bytes: &[u8],
) -> Result<T, DecodeError> {
    T::try_from(bytes).map_err(|source| DecodeError::Key { field, source })
}

/// Takes a required sub-message.
pub(crate) fn required<T>(field: &'static str, value: Option<T>) -> Result<T, DecodeError> {
    value.ok_or(DecodeError::Missing(field))
}

/// Checks a list's length against its bound.
pub(crate) fn bounded<T>(field: &'static str, list: &[T], max: usize) -> Result<(), DecodeError> {
    if list.len() > max {
        return Err(DecodeError::TooLong { field, max, actual: list.len() });
    }
    Ok(())
}

/// Checks a protocol text (a name, a description, a reason, a service) against
/// [`crate::limits::MAX_TEXT_BYTES`] and refuses control characters: a peer's text reaches
/// people's terminals and logs, so an escape sequence or a forged line break is malformed
/// input, not something to pass on (see [`crate::text`]).
pub(crate) fn text(field: &'static str, text: String) -> Result<String, DecodeError> {
    let text = value_text(field, text)?;
    if !crate::text::is_printable(&text) {
        return Err(DecodeError::NotPrintable(field));
    }
    Ok(text)
}

/// Checks a vault value's text against [`crate::limits::MAX_TEXT_BYTES`] only: a person's own
/// values may hold line breaks; they are shown as JSON, which escapes them.
pub(crate) fn value_text(field: &'static str, text: String) -> Result<String, DecodeError> {
    let max = crate::limits::MAX_TEXT_BYTES;
    if text.len() > max {
        return Err(DecodeError::TooLong { field, max, actual: text.len() });
    }
    Ok(text)
}
