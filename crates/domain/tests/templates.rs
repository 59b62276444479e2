//! Template rules of contract section 8, decided with plain values: admins write templates
//! (create, revise, retire) with well-formed placeholders, and sends render them.

mod common;

use std::collections::BTreeMap;

use common::*;
use domain::command::{CreateTemplate, RetireTemplate, ReviseTemplate, TemplateCommand};
use domain::event::{TemplateCreated, TemplateRetired, TemplateRevised};
use domain::template::placeholder::{scan, Segment};
use domain::template::{render, Template, TemplateContent, TemplateRef, WhatsappTemplate};
use domain::{Event, PatientId, Role, TemplateId};
use proptest::prelude::*;
use uuid::Uuid;

// ---------------------------------------------------------------- helpers

fn content(subject: Option<&str>, body: &str) -> TemplateContent {
    TemplateContent {
        name: "Appointment reminder".into(),
        subject: subject.map(str::to_owned),
        body: body.into(),
        whatsapp: None,
    }
}

fn reminder() -> TemplateContent {
    content(
        Some("Your appointment on {{date}}"),
        "Dear {{patient_name}}, see you on {{date}} at {{time}}. {{clinic}}",
    )
}

fn create(id: TemplateId, content: TemplateContent) -> TemplateCommand {
    TemplateCommand::CreateTemplate(CreateTemplate {
        template_id: id,
        content,
    })
}

fn revise(id: TemplateId, content: TemplateContent) -> TemplateCommand {
    TemplateCommand::ReviseTemplate(ReviseTemplate {
        template_id: id,
        content,
    })
}

fn retire(id: TemplateId) -> TemplateCommand {
    TemplateCommand::RetireTemplate(RetireTemplate { template_id: id })
}

/// A template created with `content` by an admin, and its id.
fn created(content: TemplateContent) -> (TemplateId, Vec<Event>) {
    let id = TemplateId(Uuid::new_v4());
    let events = Template::default()
        .decide(&create(id, content), &ctx(&admin()))
        .unwrap();
    (id, events)
}

fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

// ---------------------------------------------------------------- templates

#[test]
fn admins_create_templates_at_version_one_with_variables_in_order_of_first_use() {
    // Given no template; when an admin creates one
    let (id, events) = created(reminder());
    // Then one TemplateCreated at version 1 lists subject variables, then body ones, once each.
    assert_eq!(
        events,
        vec![Event::TemplateCreated(TemplateCreated {
            template_id: id,
            content: reminder(),
            variables: vec![
                "date".into(),
                "patient_name".into(),
                "time".into(),
                "clinic".into()
            ],
            version: 1,
        })]
    );
    assert_eq!(events[0].stream(), format!("template-{}", id.0));
    let template: Template = given(&events);
    let record = template.record().unwrap();
    assert_eq!((record.version, record.retired), (1, false));
}

#[test]
fn only_admins_write_templates() {
    let (id, events) = created(reminder());
    let template: Template = given(&events);
    for principal in [
        staff(Role::Receptionist),
        staff(Role::Doctor),
        staff(Role::Auditor),
        patient_principal(PatientId(Uuid::new_v4())),
        system(),
    ] {
        for command in [
            create(TemplateId(Uuid::new_v4()), reminder()),
            revise(id, content(None, "Hi")),
            retire(id),
        ] {
            let fresh = Template::default();
            let state = if matches!(command, TemplateCommand::CreateTemplate(_)) {
                &fresh
            } else {
                &template
            };
            assert_eq!(
                code_of(state.decide(&command, &ctx(&principal))),
                "forbidden",
                "{} {command:?}",
                principal.role()
            );
        }
    }
    // An admin without send_messages may use no part of the hub.
    let unpermitted = staff_without_permission(Role::Admin);
    assert_eq!(
        code_of(template.decide(&retire(id), &ctx(&unpermitted))),
        "missing_permission"
    );
}

#[test]
fn malformed_placeholders_are_refused_naming_them() {
    for (subject, body, named) in [
        (
            None,
            "Dear {{ Name }}, hello",
            "body: malformed placeholder `{{ Name }}`",
        ),
        (
            None,
            "Dear {{Name}}",
            "body: malformed placeholder `{{Name}}`",
        ),
        (None, "Dear {{}}", "body: malformed placeholder `{{}}`"),
        (
            None,
            "Dear {{patient_name",
            "body: unclosed placeholder `{{patient_name`",
        ),
        (
            Some("On {{1day}}"),
            "Hi",
            "subject: malformed placeholder `{{1day}}`",
        ),
    ] {
        let message = invalid_message(Template::default().decide(
            &create(TemplateId(Uuid::new_v4()), content(subject, body)),
            &ctx(&admin()),
        ));
        assert!(message.starts_with(named), "{body}: {message}");
    }
    // Single braces and stray closers are text.
    let (_, events) = created(content(None, "Use {curly} braces }} freely"));
    assert_eq!(events.len(), 1);
}

#[test]
fn template_content_is_validated() {
    for (content, field) in [
        (content(None, "   "), "body"),
        (
            TemplateContent {
                name: " ".into(),
                ..reminder()
            },
            "name",
        ),
        (
            content(Some(&"s".repeat(1_001)), "Hi"),
            "subject must be at most",
        ),
    ] {
        let message = invalid_message(
            Template::default()
                .decide(&create(TemplateId(Uuid::new_v4()), content), &ctx(&admin())),
        );
        assert!(message.contains(field), "{message}");
    }
    // A blank subject is no subject.
    let (_, events) = created(content(Some("  "), "Hi"));
    let template: Template = given(&events);
    assert_eq!(template.record().unwrap().content.subject, None);
}

#[test]
fn whatsapp_parameters_name_template_variables() {
    let with_whatsapp = |name: &str, language: &str, parameters: &[&str]| TemplateContent {
        whatsapp: Some(WhatsappTemplate {
            name: name.into(),
            language: language.into(),
            parameters: parameters.iter().map(|p| (*p).to_owned()).collect(),
        }),
        ..reminder()
    };
    let (_, events) = created(with_whatsapp(
        "appointment_reminder",
        "en_US",
        &["patient_name", "date", "time"],
    ));
    assert_eq!(events.len(), 1);
    for (content, named) in [
        (
            with_whatsapp("appointment_reminder", "en_US", &["doctor"]),
            "whatsapp.parameters: `doctor`",
        ),
        (
            with_whatsapp("Appointment Reminder", "en_US", &[]),
            "whatsapp.name",
        ),
        (
            with_whatsapp("reminder", "english", &[]),
            "whatsapp.language",
        ),
    ] {
        let message = invalid_message(
            Template::default()
                .decide(&create(TemplateId(Uuid::new_v4()), content), &ctx(&admin())),
        );
        assert!(message.starts_with(named), "{message}");
    }
}

#[test]
fn revisions_count_versions_up_by_one() {
    let (id, mut events) = created(reminder());
    for version in 2..=4 {
        let template: Template = given(&events);
        let body = format!("Version {version}: {{{{when}}}}");
        let decided = template
            .decide(&revise(id, content(None, &body)), &ctx(&admin()))
            .unwrap();
        assert_eq!(
            decided,
            vec![Event::TemplateRevised(TemplateRevised {
                template_id: id,
                content: content(None, &body),
                variables: vec!["when".into()],
                version,
            })]
        );
        events.extend(decided);
    }
    let template: Template = given(&events);
    assert_eq!(template.record().unwrap().version, 4);
    assert_eq!(template.record().unwrap().variables, ["when"]);
}

#[test]
fn an_identical_revision_is_a_no_op() {
    let (id, events) = created(reminder());
    let template: Template = given(&events);
    assert_eq!(
        template.decide(&revise(id, reminder()), &ctx(&admin())),
        Ok(vec![])
    );
}

#[test]
fn retired_templates_are_not_revised_and_retiring_twice_is_a_no_op() {
    // Given a created template; when an admin retires it
    let (id, mut events) = created(reminder());
    let template: Template = given(&events);
    let retired = template.decide(&retire(id), &ctx(&admin())).unwrap();
    assert_eq!(
        retired,
        vec![Event::TemplateRetired(TemplateRetired {
            template_id: id,
            version: 1
        })]
    );
    events.extend(retired);
    // Then it stays readable, is not revised, and retiring again changes nothing.
    let template: Template = given(&events);
    assert!(template.record().unwrap().retired);
    let message =
        invalid_message(template.decide(&revise(id, content(None, "Hi")), &ctx(&admin())));
    assert!(message.contains("retired"), "{message}");
    assert_eq!(template.decide(&retire(id), &ctx(&admin())), Ok(vec![]));
}

#[test]
fn unknown_templates_are_not_found_and_ids_are_not_reused() {
    let id = TemplateId(Uuid::new_v4());
    for command in [revise(id, reminder()), retire(id)] {
        assert_eq!(
            code_of(Template::default().decide(&command, &ctx(&admin()))),
            "not_found"
        );
    }
    let (id, events) = created(reminder());
    let template: Template = given(&events);
    assert_eq!(
        code_of(template.decide(&create(id, reminder()), &ctx(&admin()))),
        "invalid_request"
    );
}

// ---------------------------------------------------------------- rendering

#[test]
fn rendering_fills_patient_name_from_the_record() {
    let (id, events) = created(TemplateContent {
        whatsapp: Some(WhatsappTemplate {
            name: "appointment_reminder".into(),
            language: "de".into(),
            parameters: vec!["patient_name".into(), "time".into()],
        }),
        ..reminder()
    });
    let template: Template = given(&events);
    let rendered = render(
        &template,
        &vars(&[
            ("date", "2 June"),
            ("time", "09:30"),
            ("clinic", "Praxis Nord"),
        ]),
        "Pat Doe",
    )
    .unwrap();
    assert_eq!(
        rendered.subject.as_deref(),
        Some("Your appointment on 2 June")
    );
    assert_eq!(
        rendered.body,
        "Dear Pat Doe, see you on 2 June at 09:30. Praxis Nord"
    );
    assert_eq!(rendered.template, TemplateRef { id, version: 1 });
    assert_eq!(rendered.whatsapp_parameters, ["Pat Doe", "09:30"]);
}

#[test]
fn rendering_names_every_missing_and_unknown_variable() {
    let (_, events) = created(reminder());
    let template: Template = given(&events);
    let message = invalid_message(render(
        &template,
        &vars(&[("date", "2 June"), ("doctor", "Dr. Who"), ("room", "3")]),
        "Pat",
    ));
    assert!(
        message.contains("unknown variables: doctor, room")
            && message.contains("missing variables: time, clinic"),
        "{message}"
    );
}

#[test]
fn callers_may_not_pass_patient_name() {
    let (_, events) = created(reminder());
    let template: Template = given(&events);
    let message = invalid_message(render(
        &template,
        &vars(&[
            ("date", "d"),
            ("time", "t"),
            ("clinic", "c"),
            ("patient_name", "Someone else"),
        ]),
        "Pat",
    ));
    assert!(message.contains("`patient_name`"), "{message}");
}

#[test]
fn retired_and_unknown_templates_render_as_not_found() {
    let all = vars(&[("date", "d"), ("time", "t"), ("clinic", "c")]);
    assert_eq!(
        code_of(render(&Template::default(), &all, "Pat")),
        "not_found"
    );
    let (id, mut events) = created(reminder());
    events.push(Event::TemplateRetired(TemplateRetired {
        template_id: id,
        version: 1,
    }));
    let template: Template = given(&events);
    assert_eq!(code_of(render(&template, &all, "Pat")), "not_found");
}

#[test]
fn rendering_uses_the_current_version() {
    let (id, mut events) = created(reminder());
    events.extend(
        given::<Template>(&events)
            .decide(
                &revise(id, content(None, "Hello {{patient_name}}")),
                &ctx(&admin()),
            )
            .unwrap(),
    );
    let rendered = render(&given(&events), &BTreeMap::new(), "Pat").unwrap();
    assert_eq!(rendered.body, "Hello Pat");
    assert_eq!(rendered.subject, None);
    assert_eq!(rendered.template, TemplateRef { id, version: 2 });
}

#[test]
fn values_are_pasted_once_never_rendered_again() {
    let (_, events) = created(content(None, "{{a}} and {{b}}"));
    let rendered = render(
        &given(&events),
        &vars(&[("a", "{{b}}"), ("b", "{{patient_name}}")]),
        "Pat",
    )
    .unwrap();
    assert_eq!(rendered.body, "{{b}} and {{patient_name}}");
}

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_]{0,8}".prop_filter("patient_name is the record's", |n| n != "patient_name")
}

/// Literal text without braces, any other character allowed.
fn literal() -> impl Strategy<Value = String> {
    "[^{}]{0,12}"
}

proptest! {
    #[test]
    fn scanning_any_text_never_panics(text in prop_oneof![".{0,64}", "[{}a_Z ]{0,64}"]) {
        let _ = scan(&text);
    }

    #[test]
    fn scanning_a_built_template_finds_its_placeholders(
        parts in prop::collection::vec((literal(), name()), 0..6),
        tail in literal(),
    ) {
        let mut text = String::new();
        for (literal, name) in &parts {
            text.push_str(literal);
            text.push_str(&format!("{{{{{name}}}}}"));
        }
        text.push_str(&tail);
        let found: Vec<&str> = scan(&text)
            .unwrap()
            .into_iter()
            .filter_map(|s| match s {
                Segment::Placeholder(name) => Some(name),
                Segment::Text(_) => None,
            })
            .collect();
        let expected: Vec<&str> = parts.iter().map(|(_, n)| n.as_str()).collect();
        prop_assert_eq!(found, expected);
    }

    #[test]
    fn rendering_with_brace_free_values_leaves_no_placeholder(
        parts in prop::collection::vec((literal(), name()), 1..6),
        tail in literal(),
        values in prop::collection::vec("[^{}]{0,12}", 6),
        patient in "[^{}]{1,12}",
    ) {
        let mut body = String::new();
        let mut given_values = BTreeMap::new();
        for (i, (literal, name)) in parts.iter().enumerate() {
            body.push_str(literal);
            body.push_str(&format!("{{{{{name}}}}}"));
            given_values.entry(name.clone()).or_insert_with(|| values[i].clone());
        }
        body.push_str(&tail);
        body.push('.');
        let (_, events) = created(content(None, &body));
        let rendered = render(&given(&events), &given_values, &patient).unwrap();
        prop_assert!(!rendered.body.contains("{{"), "{}", rendered.body);
        prop_assert!(scan(&rendered.body).unwrap().iter().all(|s| matches!(s, Segment::Text(_))));
    }
}

// ---------------------------------------------------------------- events

#[test]
fn template_events_live_in_the_template_stream_and_read_back_as_written() {
    let (id, mut events) = created(reminder());
    events.push(Event::TemplateRevised(TemplateRevised {
        template_id: id,
        content: content(None, "Hi"),
        variables: vec![],
        version: 2,
    }));
    events.push(Event::TemplateRetired(TemplateRetired {
        template_id: id,
        version: 2,
    }));
    for event in &events {
        assert_eq!(event.stream(), format!("template-{}", id.0));
        assert_eq!(event.schema_version(), 1);
        let back = Event::from_parts(event.event_type(), event.data()).unwrap();
        assert_eq!(&back, event);
    }
}
