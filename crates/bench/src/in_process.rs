//! Command throughput through the in-process command API: the same replies as the HTTP
//! cells, decided and appended by a `CommandService` in this process, without HTTP.

use std::sync::Arc;
use std::time::Duration;

use domain::command::{ConversationCommand, Draft, SendMessage};
use domain::contact::PatientContact;
use domain::{Channel, ConversationId, Principal};
use store::EventStore;

use super::load::{closed_loop, Throughput};
use commands::{Addressee, CommandService, Executor, MessageInput, RequestMeta};

/// The reply each client sends.
const BODY: &str = "Your test results are in; please book a follow-up appointment.";

/// `clients` tasks reply, each in a conversation of its own, for `duration`.
pub async fn run(
    store: Arc<dyn EventStore>,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<Throughput> {
    let commands = Arc::new(CommandService::new(Executor::new(store), None));
    let admin = Principal::bootstrap_admin();
    let mut conversations = Vec::with_capacity(clients);
    for _ in 0..clients {
        let contact = PatientContact {
            name: "Bench Patient".into(),
            phone: None,
            email: None,
            portal_enabled: true,
            whatsapp_opt_in: false,
            time_zone: None,
        };
        let patient = commands
            .register_patient(&admin, &RequestMeta::new(), contact)
            .await
            .map_err(|e| anyhow::anyhow!("registering a patient: {e:?}"))?;
        let input = MessageInput {
            channel: Channel::Portal,
            subject: None,
            body: BODY.into(),
            attachment_ids: Vec::new(),
            template: None,
        };
        let started = commands
            .start_conversation(
                &admin,
                &RequestMeta::new(),
                Addressee::Patient(domain::PatientId(patient.id)),
                &input,
            )
            .await
            .map_err(|e| anyhow::anyhow!("starting a conversation: {e:?}"))?;
        let (conversation, _) = started
            .message()
            .ok_or_else(|| anyhow::anyhow!("no conversation in the answer"))?;
        conversations.push(conversation);
    }
    let conversations: Arc<Vec<ConversationId>> = Arc::new(conversations);
    Ok(closed_loop(clients, duration, move |client| {
        let (commands, conversations, admin) =
            (commands.clone(), conversations.clone(), admin.clone());
        async move {
            let command = ConversationCommand::SendMessage(SendMessage {
                conversation_id: conversations[client],
                message_id: CommandService::new_message_id(),
                draft: Draft {
                    channel: Channel::Portal,
                    subject: None,
                    body: BODY.into(),
                    attachments: Vec::new(),
                },
                template: None,
            });
            commands
                .conversation_command(&admin, &RequestMeta::new(), None, &command)
                .await
                .map(drop)
                .map_err(|e| format!("{e:?}"))
        }
    })
    .await)
}
