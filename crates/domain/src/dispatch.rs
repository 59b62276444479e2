//! The dispatch aggregate: one outbound message's way to its provider. A dispatcher claims
//! the message in the event log before it calls the provider, so redeliveries, restarts and
//! several dispatchers never send a message twice; delivery reports only move it forward.

use chrono::{DateTime, Duration, Utc};

use crate::event::{DeliveryStatusChanged, DispatchClaimed, Event, MessageSent};
use crate::status::DeliveryStatus;
use crate::Aggregate;

/// The reason recorded when a claim ended without an outcome (the dispatcher died mid-send).
pub const OUTCOME_UNKNOWN: &str = "outcome_unknown";

/// One outbound message's dispatch state, folded from its `dispatch-<message id>` stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dispatch {
    /// The claim, once a dispatcher took the message.
    pub claim: Option<DispatchClaimed>,
    /// The latest delivery status reported after the claim.
    pub status: Option<DeliveryStatus>,
    /// The provider's ids of the message, once it accepted it.
    pub provider_message_ids: Vec<String>,
}

impl Aggregate for Dispatch {
    fn apply(&mut self, event: &Event) {
        match event {
            Event::DispatchClaimed(e) => self.claim = Some(e.clone()),
            Event::DeliveryStatusChanged(e) => {
                self.status = Some(e.status);
                if !e.provider_message_ids.is_empty() {
                    self.provider_message_ids = e.provider_message_ids.clone();
                }
            }
            _ => {}
        }
    }
}

/// What a dispatcher may do with a message it was handed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimDecision {
    /// Nobody claimed it: append this claim, then send.
    Claim(Event),
    /// Another live dispatcher holds the claim until this time: leave it to that one.
    HeldElsewhere(DateTime<Utc>),
    /// Its dispatch has an outcome already: nothing to do.
    Settled,
    /// A claim ended without an outcome: append this `failed` / `outcome_unknown` report and
    /// never send it (it may have reached the provider).
    Abandoned(Event),
}

impl Dispatch {
    /// Decides whether `dispatcher` may send `message` now. A claim without an outcome is
    /// abandoned when its lease has run out, or at once when `exclusive` (the caller is the only
    /// dispatcher, so any earlier claim belongs to a process that is gone).
    pub fn claim(
        &self,
        message: &MessageSent,
        dispatcher: &str,
        now: DateTime<Utc>,
        lease: Duration,
        exclusive: bool,
    ) -> ClaimDecision {
        if self.status.is_some_and(|s| s != DeliveryStatus::Queued) {
            return ClaimDecision::Settled;
        }
        match &self.claim {
            None => ClaimDecision::Claim(Event::DispatchClaimed(DispatchClaimed {
                conversation_id: message.conversation_id,
                message_id: message.message_id,
                channel: message.channel,
                dispatcher: dispatcher.to_owned(),
                lease_until: now + lease,
            })),
            Some(claim) if !exclusive && claim.lease_until > now => {
                ClaimDecision::HeldElsewhere(claim.lease_until)
            }
            Some(claim) => {
                ClaimDecision::Abandoned(Event::DeliveryStatusChanged(DeliveryStatusChanged {
                    conversation_id: claim.conversation_id,
                    message_id: claim.message_id,
                    status: DeliveryStatus::Failed,
                    reason: Some(OUTCOME_UNKNOWN.to_owned()),
                    provider_message_ids: Vec::new(),
                }))
            }
        }
    }

    /// The event recording a provider's report, if it moves the delivery status forward
    /// (`queued` → `sent` → `delivered`, or `failed`); a late or repeated report gives none.
    pub fn report(
        &self,
        claim: &DispatchClaimed,
        status: DeliveryStatus,
        reason: Option<String>,
        provider_message_ids: Vec<String>,
    ) -> Option<Event> {
        let current = self.status.unwrap_or(DeliveryStatus::Queued);
        current
            .advances_to(status)
            .then_some(Event::DeliveryStatusChanged(DeliveryStatusChanged {
                conversation_id: claim.conversation_id,
                message_id: claim.message_id,
                status,
                reason,
                provider_message_ids,
            }))
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::actor::{Author, Role};
    use crate::channel::{Channel, Direction};
    use crate::ids::{ConversationId, MessageId};

    fn message() -> MessageSent {
        MessageSent {
            conversation_id: ConversationId(Uuid::from_u128(1)),
            message_id: MessageId(Uuid::from_u128(2)),
            channel: Channel::Sms,
            direction: Direction::Outbound,
            author: Author {
                id: Uuid::from_u128(3),
                role: Role::Receptionist,
                name: Some("Rita".into()),
            },
            subject: None,
            body: "Your appointment is at 10".into(),
            attachments: Vec::new(),
            delivery_status: Some(DeliveryStatus::Queued),
            template: None,
            whatsapp_template: None,
            scheduled_for: None,
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).expect("valid time")
    }

    fn claimed(lease: Duration) -> Dispatch {
        let decision = Dispatch::default().claim(&message(), "a", now(), lease, false);
        let ClaimDecision::Claim(event) = decision else {
            panic!("a fresh dispatch is claimed, got {decision:?}");
        };
        Dispatch::fold([&event])
    }

    #[test]
    fn a_live_claim_keeps_other_dispatchers_out_and_an_expired_one_is_abandoned() {
        let dispatch = claimed(Duration::seconds(60));
        let later = now() + Duration::seconds(30);
        assert_eq!(
            dispatch.claim(&message(), "b", later, Duration::seconds(60), false),
            ClaimDecision::HeldElsewhere(now() + Duration::seconds(60))
        );
        let expired = now() + Duration::seconds(61);
        let ClaimDecision::Abandoned(Event::DeliveryStatusChanged(report)) =
            dispatch.claim(&message(), "b", expired, Duration::seconds(60), false)
        else {
            panic!("an expired claim is abandoned");
        };
        assert_eq!(report.status, DeliveryStatus::Failed);
        assert_eq!(report.reason.as_deref(), Some(OUTCOME_UNKNOWN));
        assert!(matches!(
            dispatch.claim(&message(), "b", later, Duration::seconds(60), true),
            ClaimDecision::Abandoned(_)
        ));
    }

    #[test]
    fn reports_only_move_forward_and_settle_the_dispatch() {
        let mut dispatch = claimed(Duration::seconds(60));
        let claim = dispatch.claim.clone().expect("claimed");
        let sent = dispatch.report(&claim, DeliveryStatus::Sent, None, vec!["SM1".into()]);
        dispatch.apply(&sent.expect("sent follows queued"));
        assert_eq!(dispatch.provider_message_ids, vec!["SM1".to_owned()]);
        assert_eq!(
            dispatch.claim(&message(), "b", now(), Duration::seconds(1), true),
            ClaimDecision::Settled
        );
        let delivered = dispatch.report(&claim, DeliveryStatus::Delivered, None, Vec::new());
        dispatch.apply(&delivered.expect("delivered follows sent"));
        assert_eq!(
            dispatch.report(&claim, DeliveryStatus::Sent, None, Vec::new()),
            None
        );
        assert_eq!(
            dispatch.report(&claim, DeliveryStatus::Failed, None, Vec::new()),
            None
        );
    }
}
