//! Personal fields sealed with their patient's data key (see `store::keys`).
//!
//! Each event type that carries personal data names the places in its `data` that hold it
//! ([`personal_fields`]). Sealing moves the values found there into one AES-256-GCM
//! ciphertext under the patient's key (the `sealed` member of the data) and leaves in their
//! place what the field shows once the patient is erased ([`Erased`]): the stored data is the
//! erased view plus a ciphertext. Opening puts the values back; when the key is destroyed the
//! erased view is what remains, so every reader (and a replay) sees the same erased data
//! without knowing anything of erasure.
//!
//! Sealed events have their own schema version (one above the last plain one): a hub that
//! does not know sealing refuses them instead of showing the placeholders as data.

use serde_json::Value;
use store::keys::{KeyError, Keyring, Sealed};
use uuid::Uuid;

/// What a sealed field shows when the key is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Erased {
    /// `null` (an optional field).
    Null,
    /// An empty string (a required text).
    Empty,
    /// The text `"erased"` (a name).
    Word,
}

impl Erased {
    fn value(self) -> Value {
        match self {
            Erased::Null => Value::Null,
            Erased::Empty => Value::String(String::new()),
            Erased::Word => Value::String("erased".into()),
        }
    }
}

/// One place of personal data: a path of member names, `*` for every element of an array.
type Field = (&'static [&'static str], Erased);

const CONTACT: &[Field] = &[
    (&["name"], Erased::Word),
    (&["phone"], Erased::Null),
    (&["email"], Erased::Null),
    (&["time_zone"], Erased::Null),
];

const SENT: &[Field] = &[
    (&["subject"], Erased::Null),
    (&["body"], Erased::Empty),
    (&["attachments", "*", "filename"], Erased::Null),
    (&["whatsapp_template"], Erased::Null),
    (&["author", "name"], Erased::Null),
];

const RECEIVED: &[Field] = &[
    (&["subject"], Erased::Null),
    (&["body"], Erased::Empty),
    (&["attachments", "*", "filename"], Erased::Null),
    (&["author", "name"], Erased::Null),
];

const CALL: &[Field] = &[(&["summary"], Erased::Empty)];

const SCHEDULED: &[Field] = &[
    (&["draft", "subject"], Erased::Null),
    (&["draft", "body"], Erased::Empty),
    (&["draft", "attachments", "*", "filename"], Erased::Null),
    (&["whatsapp_template"], Erased::Null),
    (&["author", "name"], Erased::Null),
];

/// The attachment's members are flattened into the upload's data.
const UPLOAD: &[Field] = &[(&["filename"], Erased::Null)];

/// The places of personal data in an event type's data, with the schema version of its sealed
/// shape; `None` for types without personal data.
pub fn personal_fields(event_type: &str) -> Option<(&'static [Field], u32)> {
    Some(match event_type {
        "PatientRegistered" | "PatientContactChanged" => (CONTACT, 3),
        "MessageSent" => (SENT, 5),
        "MessageReceived" => (RECEIVED, 3),
        "CallLogged" => (CALL, 3),
        "MessageScheduled" => (SCHEDULED, 3),
        "AttachmentStored" => (UPLOAD, 2),
        _ => return None,
    })
}

/// Calls `visit` with every value at `path` under `value` (each array element for `*`).
fn visit_path(value: &mut Value, path: &[&str], visit: &mut dyn FnMut(&mut Value)) {
    let Some((first, rest)) = path.split_first() else {
        visit(value);
        return;
    };
    match (*first, value) {
        ("*", Value::Array(items)) => {
            for item in items {
                visit_path(item, rest, visit);
            }
        }
        (name, Value::Object(members)) => {
            if let Some(inner) = members.get_mut(name) {
                visit_path(inner, rest, visit);
            }
        }
        _ => {}
    }
}

/// Takes the personal values out of `data` (leaving the erased view), in the order the fields
/// are listed and the values found.
fn take(data: &mut Value, fields: &[Field]) -> Vec<Value> {
    let mut taken = Vec::new();
    for (path, erased) in fields {
        visit_path(data, path, &mut |value| {
            taken.push(std::mem::replace(value, erased.value()));
        });
    }
    taken
}

/// Puts values taken by [`take`] back, in the same order.
fn put_back(data: &mut Value, fields: &[Field], taken: Vec<Value>) {
    let mut values = taken.into_iter();
    for (path, _) in fields {
        visit_path(data, path, &mut |value| {
            if let Some(original) = values.next() {
                *value = original;
            }
        });
    }
}

/// Seals the personal fields of `data` (an event of `event_type`) with `subject`'s key, bound
/// to `event_id`; answers the sealed shape's schema version, or `None` (nothing changed) for
/// a type without personal data. The key must be loaded (`Keyring::ensure`).
pub fn seal(
    keys: &Keyring,
    subject: Uuid,
    event_type: &str,
    event_id: Uuid,
    data: &mut Value,
) -> Result<Option<u32>, KeyError> {
    let Some((fields, version)) = personal_fields(event_type) else {
        return Ok(None);
    };
    let taken = take(data, fields);
    let plaintext = serde_json::to_vec(&taken).unwrap_or_default();
    let sealed = match keys.seal(subject, event_id.as_bytes(), &plaintext) {
        Ok(sealed) => sealed,
        Err(error) => {
            put_back(data, fields, taken); // the data as it was given
            return Err(error);
        }
    };
    if let Value::Object(members) = data {
        members.insert(
            "sealed".into(),
            serde_json::to_value(sealed).unwrap_or(Value::Null),
        );
    }
    Ok(Some(version))
}

/// Whether a sealed value could be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    /// The data was not sealed.
    Plain,
    /// The personal values are back in place.
    Readable,
    /// The key is destroyed: the data shows the erased view.
    Erased,
}

/// Opens sealed `data` of `event_type` in place (dropping the `sealed` member).
pub fn open(
    keys: &Keyring,
    event_type: &str,
    event_id: Uuid,
    data: &mut Value,
) -> Result<Opened, KeyError> {
    let Some(raw) = data
        .as_object_mut()
        .and_then(|members| members.remove("sealed"))
    else {
        return Ok(Opened::Plain);
    };
    let sealed: Sealed =
        serde_json::from_value(raw).map_err(|e| KeyError::Corrupt(e.to_string()))?;
    let Some((fields, _)) = personal_fields(event_type) else {
        return Err(KeyError::Corrupt(format!(
            "{event_type} carries no personal data"
        )));
    };
    match keys.unseal(&sealed, event_id.as_bytes()) {
        Ok(plaintext) => {
            let taken: Vec<Value> =
                serde_json::from_slice(&plaintext).map_err(|e| KeyError::Corrupt(e.to_string()))?;
            put_back(data, fields, taken);
            Ok(Opened::Readable)
        }
        Err(KeyError::Destroyed(_)) => Ok(Opened::Erased),
        Err(other) => Err(other),
    }
}
