//! The upcasting chain: stored event data of an older schema version is brought to the current
//! shape as raw JSON, one version at a time, before it is decoded into the typed [`Event`].
//!
//! Events are never rewritten in the store: an auditor replays exactly what was recorded, and
//! every reader sees old events in today's shape through this chain. A new shape of an event
//! type is a new `schema_version` (see [`Event::schema_version`]) and one [`Step`] here that
//! turns the previous version's data into it. Steps work on JSON, not on old Rust types, so the
//! domain keeps only the current types.
//!
//! [`Event`]: domain::Event
//! [`Event::schema_version`]: domain::Event::schema_version

use serde_json::Value;

/// One step of the chain: data of `event_types` at version `from` becomes version `from + 1`.
struct Step {
    event_types: &'static [&'static str],
    from: u32,
    apply: fn(&mut Value),
}

/// Every step, in no particular order (each names the version it starts from).
const CHAIN: &[Step] = &[
    Step {
        event_types: &["MessageSent", "CallLogged", "MessageReceived"],
        from: 1,
        apply: author_gains_name,
    },
    Step {
        event_types: &["MessageSent"],
        from: 2,
        apply: message_gains_template,
    },
    Step {
        event_types: &["MessageSent"],
        from: 3,
        apply: message_gains_scheduled_for,
    },
    Step {
        event_types: &["MessageScheduled"],
        from: 1,
        apply: scheduled_gains_whatsapp_template,
    },
    Step {
        event_types: &["PatientRegistered", "PatientContactChanged"],
        from: 1,
        apply: contact_gains_time_zone,
    },
    Step {
        event_types: &["MessageSent"],
        from: 4,
        apply: personal_fields_sealed,
    },
    Step {
        event_types: &[
            "MessageReceived",
            "CallLogged",
            "PatientRegistered",
            "PatientContactChanged",
            "MessageScheduled",
        ],
        from: 2,
        apply: personal_fields_sealed,
    },
    Step {
        event_types: &["AttachmentStored"],
        from: 1,
        apply: personal_fields_sealed,
    },
];

/// Version 2 of messages and call logs records the author's name; events of version 1 did not
/// know it, so it is `null`.
fn author_gains_name(data: &mut Value) {
    if let Some(author) = data.get_mut("author").and_then(Value::as_object_mut) {
        author.entry("name").or_insert(Value::Null);
    }
}

/// Version 3 of `MessageSent` records the template it was rendered from and the WhatsApp
/// template message sent outside the window; messages of version 2 had neither.
fn message_gains_template(data: &mut Value) {
    if let Some(fields) = data.as_object_mut() {
        fields.entry("template").or_insert(Value::Null);
        fields.entry("whatsapp_template").or_insert(Value::Null);
    }
}

/// Version 4 of `MessageSent` records the time a scheduled message was scheduled for; messages
/// of version 3 were all sent when written.
fn message_gains_scheduled_for(data: &mut Value) {
    if let Some(fields) = data.as_object_mut() {
        fields.entry("scheduled_for").or_insert(Value::Null);
    }
}

/// Version 2 of `MessageScheduled` records the approved WhatsApp template message it is
/// released as outside the window; scheduled messages of version 1 had none.
fn scheduled_gains_whatsapp_template(data: &mut Value) {
    if let Some(fields) = data.as_object_mut() {
        fields.entry("whatsapp_template").or_insert(Value::Null);
    }
}

/// Version 2 of `PatientRegistered` and `PatientContactChanged` records the patient's time
/// zone (for quiet hours); records of version 1 had none.
fn contact_gains_time_zone(data: &mut Value) {
    if let Some(fields) = data.as_object_mut() {
        fields.entry("time_zone").or_insert(Value::Null);
    }
}

/// The versions after these (`crate::seal`) store the same fields with the personal ones
/// sealed under the patient's key; opened, their data has the shape of the version before, so
/// plain data of that version needs nothing.
fn personal_fields_sealed(_: &mut Value) {}

/// Brings `data` of `event_type`, recorded at `schema_version`, through every step that applies;
/// answers the version it ends at with the upcast data.
pub fn upcast(event_type: &str, schema_version: u32, mut data: Value) -> (u32, Value) {
    let mut version = schema_version;
    while let Some(step) = CHAIN
        .iter()
        .find(|step| step.from == version && step.event_types.contains(&event_type))
    {
        (step.apply)(&mut data);
        version += 1;
    }
    (version, data)
}
