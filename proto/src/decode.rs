//! The error every wire-to-domain conversion returns. A value of a domain type is always valid:
//! anything that could not be one is rejected here, at the edge, with the reason.

use crate::identity::KeyError;

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

/// Checks a free text's length against [`crate::limits::MAX_TEXT_BYTES`].
pub(crate) fn text(field: &'static str, text: String) -> Result<String, DecodeError> {
    let max = crate::limits::MAX_TEXT_BYTES;
    if text.len() > max {
        return Err(DecodeError::TooLong { field, max, actual: text.len() });
    }
    Ok(text)
}
