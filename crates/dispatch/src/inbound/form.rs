//! Reading fields out of a decoded form body (`application/x-www-form-urlencoded`).

use super::InboundError;

/// The first value of `name`, present but possibly empty.
pub(crate) fn field<'a>(
    params: &'a [(String, String)],
    name: &'static str,
) -> Result<&'a str, InboundError> {
    params
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
        .ok_or(InboundError::MissingField(name))
}

/// The first value of `name`, which must not be empty.
pub(crate) fn required<'a>(
    params: &'a [(String, String)],
    name: &'static str,
) -> Result<&'a str, InboundError> {
    field(params, name).and_then(|value| {
        if value.is_empty() {
            Err(InboundError::MissingField(name))
        } else {
            Ok(value)
        }
    })
}

/// The first value of `name` when it is present and not empty.
pub(crate) fn optional<'a>(params: &'a [(String, String)], name: &'static str) -> Option<&'a str> {
    required(params, name).ok()
}
