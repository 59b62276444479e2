//! Sending with a template (contract section 8), decided with plain values: the conversation
//! decision renders the template it is given with the patient's name from the record, records
//! `template: {id, version}`, and on WhatsApp outside the 24-hour window sends the approved
//! template message instead of refusing.

mod common;

use std::collections::BTreeMap;

use chrono::Duration;
use common::*;
use domain::command::{
    ConversationCommand, CreateTemplate, Draft, RetireTemplate, SendMessage, StartConversation,
    TemplateCommand, TemplateUse,
};
use domain::event::{MessageSent, WhatsappWindowOpened};
use domain::template::{
    Template, TemplateContent, TemplateRef, WhatsappTemplate, WhatsappTemplateMessage,
};
use domain::{Channel, ConversationId, Event, MessageId, PatientId, Principal, Role, TemplateId};
use uuid::Uuid;

// ---------------------------------------------------------------- helpers

fn reminder(whatsapp: bool) -> TemplateContent {
    TemplateContent {
        name: "Appointment reminder".into(),
        subject: Some("Appointment on {{date}}".into()),
        body: "Dear {{patient_name}}, see you on {{date}} at {{time}}.".into(),
        whatsapp: whatsapp.then(|| WhatsappTemplate {
            name: "appointment_reminder".into(),
            language: "en_US".into(),
            parameters: vec!["time".into(), "patient_name".into(), "date".into()],
        }),
    }
}

/// A world with a patient (every channel) and a template created by an admin.
fn world_with_template(whatsapp: bool) -> (World, PatientId, TemplateId) {
    let mut world = World::default();
    let patient = world.register(full_contact());
    let id = TemplateId(Uuid::new_v4());
    let events = Template::default()
        .decide(
            &TemplateCommand::CreateTemplate(CreateTemplate {
                template_id: id,
                content: reminder(whatsapp),
            }),
            &ctx(&admin()),
        )
        .unwrap();
    world.record(events);
    (world, patient, id)
}

fn using(id: TemplateId, pairs: &[(&str, &str)]) -> TemplateUse {
    TemplateUse {
        id,
        variables: pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>(),
    }
}

fn june_second(id: TemplateId) -> TemplateUse {
    using(id, &[("date", "2 June"), ("time", "09:30")])
}

/// A draft as the command layer builds it for a template send: channel and attachments only.
fn template_draft(channel: Channel) -> Draft {
    Draft {
        channel,
        subject: None,
        body: String::new(),
        attachments: vec![],
    }
}

fn start_with(
    world: &mut World,
    principal: &Principal,
    patient: PatientId,
    channel: Channel,
    template: TemplateUse,
) -> Result<Vec<Event>, domain::DomainError> {
    world.decide(
        principal,
        patient,
        ConversationCommand::StartConversation(StartConversation {
            conversation_id: ConversationId(Uuid::new_v4()),
            message_id: MessageId(Uuid::new_v4()),
            patient_id: patient,
            to: None,
            draft: template_draft(channel),
            template: Some(template),
        }),
    )
}

fn sent(events: &[Event]) -> &MessageSent {
    events
        .iter()
        .find_map(|e| match e {
            Event::MessageSent(m) => Some(m),
            _ => None,
        })
        .expect("a MessageSent")
}

fn open_window(world: &mut World, patient: PatientId) {
    world.record(vec![Event::WhatsappWindowOpened(WhatsappWindowOpened {
        patient_id: patient,
        opened_at: now() - Duration::hours(1),
    })]);
}

// ---------------------------------------------------------------- sends

#[test]
fn a_template_send_records_the_rendered_text_and_the_template_version() {
    // Given a template and a patient named Pat
    let (mut world, patient, id) = world_with_template(false);
    // When reception writes an e-mail from it
    let events = start_with(
        &mut world,
        &staff(Role::Receptionist),
        patient,
        Channel::Email,
        june_second(id),
    )
    .unwrap();
    // Then the message carries the rendered subject and body and the template's version 1.
    let message = sent(&events);
    assert_eq!(message.subject.as_deref(), Some("Appointment on 2 June"));
    assert_eq!(message.body, "Dear Pat, see you on 2 June at 09:30.");
    assert_eq!(message.template, Some(TemplateRef { id, version: 1 }));
    assert_eq!(message.whatsapp_template, None);
}

#[test]
fn replies_render_templates_too() {
    // Given a conversation
    let (mut world, patient, id) = world_with_template(false);
    let reception = staff(Role::Receptionist);
    let conversation = world
        .start(&reception, patient, None, portal("Hello"))
        .unwrap();
    // When reception replies from the template
    let events = world
        .decide(
            &reception,
            patient,
            ConversationCommand::SendMessage(SendMessage {
                conversation_id: conversation,
                message_id: MessageId(Uuid::new_v4()),
                draft: template_draft(Channel::Portal),
                template: Some(june_second(id)),
            }),
        )
        .unwrap();
    // Then the reply is the rendered text.
    assert_eq!(sent(&events).body, "Dear Pat, see you on 2 June at 09:30.");
    assert_eq!(sent(&events).template, Some(TemplateRef { id, version: 1 }));
}

#[test]
fn missing_and_unknown_variables_are_refused_naming_them() {
    let (mut world, patient, id) = world_with_template(false);
    let reception = staff(Role::Receptionist);
    let message = invalid_message(start_with(
        &mut world,
        &reception,
        patient,
        Channel::Portal,
        using(id, &[("date", "2 June"), ("room", "3")]),
    ));
    assert!(message.contains("missing variables: time"), "{message}");
    assert!(message.contains("unknown variables: room"), "{message}");
}

#[test]
fn unknown_and_retired_templates_are_not_found() {
    let (mut world, patient, id) = world_with_template(false);
    let reception = staff(Role::Receptionist);
    // An id the world has no template for.
    let unknown = june_second(TemplateId(Uuid::new_v4()));
    assert_eq!(
        code_of(start_with(
            &mut world,
            &reception,
            patient,
            Channel::Portal,
            unknown
        )),
        "not_found"
    );
    // Retired.
    let retired = world.templates[&id]
        .decide(
            &TemplateCommand::RetireTemplate(RetireTemplate { template_id: id }),
            &ctx(&admin()),
        )
        .unwrap();
    world.record(retired);
    assert_eq!(
        code_of(start_with(
            &mut world,
            &reception,
            patient,
            Channel::Portal,
            june_second(id)
        )),
        "not_found"
    );
}

#[test]
fn a_rendered_template_meets_the_channel_rules() {
    // Given a template without a subject
    let (mut world, patient, _) = world_with_template(false);
    let id = TemplateId(Uuid::new_v4());
    let events = Template::default()
        .decide(
            &TemplateCommand::CreateTemplate(CreateTemplate {
                template_id: id,
                content: TemplateContent {
                    subject: None,
                    ..reminder(false)
                },
            }),
            &ctx(&admin()),
        )
        .unwrap();
    world.record(events);
    // When it is sent as an e-mail, then the subject e-mail needs is missing.
    let message = invalid_message(start_with(
        &mut world,
        &staff(Role::Receptionist),
        patient,
        Channel::Email,
        june_second(id),
    ));
    assert!(message.contains("subject is required"), "{message}");
}

#[test]
fn patients_do_not_write_from_templates() {
    let (mut world, patient, id) = world_with_template(false);
    let result = world.decide(
        &patient_principal(patient),
        patient,
        ConversationCommand::StartConversation(StartConversation {
            conversation_id: ConversationId(Uuid::new_v4()),
            message_id: MessageId(Uuid::new_v4()),
            patient_id: patient,
            to: Some(domain::command::Recipient::Reception),
            draft: template_draft(Channel::Portal),
            template: Some(june_second(id)),
        }),
    );
    assert_eq!(code_of(result), "forbidden");
}

// ---------------------------------------------------------------- WhatsApp

#[test]
fn outside_the_window_an_approved_template_goes_out_as_a_template_message() {
    // Given no inbound WhatsApp message (the window is closed) and a template with `whatsapp`
    let (mut world, patient, id) = world_with_template(true);
    // When reception sends it on WhatsApp
    let events = start_with(
        &mut world,
        &staff(Role::Receptionist),
        patient,
        Channel::Whatsapp,
        june_second(id),
    )
    .unwrap();
    // Then the message names the template message with its parameters in declared order.
    assert_eq!(
        sent(&events).whatsapp_template,
        Some(WhatsappTemplateMessage {
            name: "appointment_reminder".into(),
            language: "en_US".into(),
            parameters: vec!["09:30".into(), "Pat".into(), "2 June".into()],
        })
    );
    assert_eq!(sent(&events).body, "Dear Pat, see you on 2 June at 09:30.");
}

#[test]
fn outside_the_window_free_text_and_templates_without_whatsapp_stay_unavailable() {
    let (mut world, patient, id) = world_with_template(false);
    let reception = staff(Role::Receptionist);
    assert_eq!(
        code_of(world.start(&reception, patient, None, draft(Channel::Whatsapp, "Hi"))),
        "channel_unavailable"
    );
    assert_eq!(
        code_of(start_with(
            &mut world,
            &reception,
            patient,
            Channel::Whatsapp,
            june_second(id)
        )),
        "channel_unavailable"
    );
}

#[test]
fn outside_the_window_a_template_message_carries_no_attachments() {
    let (mut world, patient, id) = world_with_template(true);
    let mut draft = template_draft(Channel::Whatsapp);
    draft.attachments = vec![domain::attachment::AttachmentRef {
        id: domain::AttachmentId(Uuid::new_v4()),
        media_type: domain::attachment::MediaType::Pdf,
        size: 10,
        sha256: "0".repeat(64),
        filename: Some("a.pdf".into()),
    }];
    let result = world.decide(
        &staff(Role::Receptionist),
        patient,
        ConversationCommand::StartConversation(StartConversation {
            conversation_id: ConversationId(Uuid::new_v4()),
            message_id: MessageId(Uuid::new_v4()),
            patient_id: patient,
            to: None,
            draft,
            template: Some(june_second(id)),
        }),
    );
    assert_eq!(code_of(result), "channel_unavailable");
}

#[test]
fn inside_the_window_a_template_is_sent_as_its_rendered_text() {
    // Given the patient wrote on WhatsApp an hour ago
    let (mut world, patient, id) = world_with_template(true);
    open_window(&mut world, patient);
    // When reception sends the template on WhatsApp
    let events = start_with(
        &mut world,
        &staff(Role::Receptionist),
        patient,
        Channel::Whatsapp,
        june_second(id),
    )
    .unwrap();
    // Then it goes out as ordinary text: no template message.
    assert_eq!(sent(&events).whatsapp_template, None);
    assert_eq!(sent(&events).template, Some(TemplateRef { id, version: 1 }));
}
