//! Channel providers and webhook secrets from the command line and environment.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context as _;
use dispatch::provider::email::{EmailConfig, SmtpEmail};
use dispatch::provider::twilio::{TwilioConfig, TwilioSms};
use dispatch::provider::whatsapp::{WhatsappCloud, WhatsappConfig};
use dispatch::provider::Provider;

use crate::cli::ProviderArgs;

/// Whether each external channel's provider is configured (unconfigured ones keep messages queued).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChannelReport(pub std::collections::BTreeMap<&'static str, &'static str>);

/// The path of Twilio's delivery status callback.
pub const TWILIO_STATUS_PATH: &str = "/v1/webhooks/twilio/status";

/// The configured providers, one per external channel at most.
#[derive(Clone, Default)]
pub struct Providers {
    /// Every configured provider.
    pub all: Vec<Arc<dyn Provider>>,
    /// The WhatsApp client, also used to fetch inbound media.
    pub whatsapp: Option<Arc<WhatsappCloud>>,
}

/// What the webhooks check providers' calls against.
#[derive(Clone, Default)]
pub struct WebhookSecrets {
    /// The public base URL providers call (part of Twilio's signature).
    pub public_url: Option<String>,
    /// Twilio's auth token.
    pub twilio_auth_token: Option<String>,
    /// WhatsApp's app secret.
    pub whatsapp_app_secret: Option<String>,
    /// WhatsApp's handshake token.
    pub whatsapp_verify_token: Option<String>,
    /// The inbound e-mail webhook's bearer token.
    pub inbound_email_token: Option<String>,
}

/// A setting's value when it is present and not blank.
fn set(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl ProviderArgs {
    /// Builds the providers whose settings are complete.
    pub fn providers(&self) -> anyhow::Result<Providers> {
        let mut providers = Providers::default();
        if let (Some(sid), Some(token), Some(from)) = (
            set(&self.twilio_account_sid),
            set(&self.twilio_auth_token),
            set(&self.twilio_from),
        ) {
            let status_callback = set(&self.public_url)
                .map(|base| format!("{}{TWILIO_STATUS_PATH}", base.trim_end_matches('/')));
            let sms = TwilioSms::new(TwilioConfig {
                api_base: self.twilio_api_base.clone(),
                account_sid: sid.to_owned(),
                auth_token: token.to_owned(),
                from: from.to_owned(),
                status_callback,
            })
            .context("configuring Twilio")?;
            providers.all.push(Arc::new(sms));
        }
        if let (Some(phone_number_id), Some(token)) = (
            set(&self.whatsapp_phone_number_id),
            set(&self.whatsapp_token),
        ) {
            let whatsapp = Arc::new(
                WhatsappCloud::new(WhatsappConfig {
                    api_base: self.whatsapp_api_base.clone(),
                    phone_number_id: phone_number_id.to_owned(),
                    token: token.to_owned(),
                })
                .context("configuring WhatsApp")?,
            );
            providers.all.push(whatsapp.clone());
            providers.whatsapp = Some(whatsapp);
        }
        if let (Some(smtp_url), Some(from)) = (set(&self.smtp_url), set(&self.email_from)) {
            let email = SmtpEmail::new(&EmailConfig {
                smtp_url: smtp_url.to_owned(),
                from: from.to_owned(),
            })
            .context("configuring SMTP")?;
            providers.all.push(Arc::new(email));
        }
        Ok(providers)
    }

    /// What `/v1/health` says of each channel.
    pub fn channel_report(&self, providers: &Providers) -> ChannelReport {
        let mut report = BTreeMap::from([
            ("email", "not_configured: messages stay queued"),
            ("portal", "delivered in the platform"),
            ("sms", "not_configured: messages stay queued"),
            ("whatsapp", "not_configured: messages stay queued"),
        ]);
        for provider in &providers.all {
            report.insert(provider.channel().as_str(), "configured");
        }
        ChannelReport(report)
    }

    /// The webhook secrets.
    pub fn webhook_secrets(&self) -> WebhookSecrets {
        let owned = |value: &Option<String>| set(value).map(str::to_owned);
        WebhookSecrets {
            public_url: owned(&self.public_url).map(|u| u.trim_end_matches('/').to_owned()),
            twilio_auth_token: owned(&self.twilio_auth_token),
            whatsapp_app_secret: owned(&self.whatsapp_app_secret),
            whatsapp_verify_token: owned(&self.whatsapp_verify_token),
            inbound_email_token: owned(&self.inbound_email_token),
        }
    }
}
