//! SMS through Twilio's Programmable Messaging API: `POST
//! {base}/2010-04-01/Accounts/{sid}/Messages.json`, form-encoded, HTTP basic auth `sid:token`.

use std::fmt;

use domain::Channel;
use serde::Deserialize;

use super::http::{self, ProviderError};
use super::{Accepted, OutboundMessage, Provider, SendError, SetupError};

/// Twilio's API base URL in production.
pub const DEFAULT_API_BASE: &str = "https://api.twilio.com";

const PROVIDER: &str = "twilio";

/// How to reach Twilio.
#[derive(Clone)]
pub struct TwilioConfig {
    /// The API base URL, [`DEFAULT_API_BASE`] in production.
    pub api_base: String,
    /// The account SID (`AC…`), also the basic-auth user.
    pub account_sid: String,
    /// The account's auth token, the basic-auth password.
    pub auth_token: String,
    /// The sending number (E.164) or messaging service.
    pub from: String,
    /// Where Twilio posts delivery status callbacks, if anywhere.
    pub status_callback: Option<String>,
}

impl fmt::Debug for TwilioConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioConfig")
            .field("api_base", &self.api_base)
            .field("account_sid", &self.account_sid)
            .field("auth_token", &"<redacted>")
            .field("from", &self.from)
            .field("status_callback", &self.status_callback)
            .finish()
    }
}

/// The SMS provider backed by Twilio.
#[derive(Debug, Clone)]
pub struct TwilioSms {
    config: TwilioConfig,
    http: reqwest::Client,
}

impl TwilioSms {
    /// Builds the provider; fails only if the HTTP client cannot start.
    pub fn new(config: TwilioConfig) -> Result<Self, SetupError> {
        Ok(Self {
            config,
            http: http::client()?,
        })
    }

    fn messages_url(&self) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.config.api_base.trim_end_matches('/'),
            self.config.account_sid
        )
    }
}

/// The part of Twilio's `201 Created` answer the hub needs.
#[derive(Deserialize)]
struct Created {
    sid: String,
}

/// Twilio's error body: `{code, message, more_info, status}`.
#[derive(Deserialize)]
struct ErrorBody {
    code: Option<serde_json::Value>,
    message: Option<String>,
}

fn parse_error(body: &[u8]) -> Option<ProviderError> {
    let error: ErrorBody = serde_json::from_slice(body).ok()?;
    let code = error.code.as_ref().map(http::code_text);
    if code.is_none() && error.message.is_none() {
        return None;
    }
    Some(ProviderError {
        code: code.unwrap_or_else(|| "error".to_owned()),
        message: error.message.unwrap_or_default(),
    })
}

#[async_trait::async_trait]
impl Provider for TwilioSms {
    fn channel(&self) -> Channel {
        Channel::Sms
    }

    async fn send(&self, message: &OutboundMessage) -> Result<Accepted, SendError> {
        if !message.attachments.is_empty() {
            return Err(SendError::Rejected(
                "an SMS carries no attachments".to_owned(),
            ));
        }
        let mut form = vec![
            ("To", message.to.as_str()),
            ("From", self.config.from.as_str()),
            ("Body", message.body.as_str()),
        ];
        if let Some(callback) = &self.config.status_callback {
            form.push(("StatusCallback", callback.as_str()));
        }
        let response = self
            .http
            .post(self.messages_url())
            .basic_auth(&self.config.account_sid, Some(&self.config.auth_token))
            .form(&form)
            .send()
            .await
            .map_err(|err| http::transport_error(PROVIDER, &err))?;
        let created: Created = http::success_json(PROVIDER, response, parse_error).await?;
        tracing::debug!(sid = %created.sid, "twilio accepted the SMS");
        Ok(Accepted {
            provider_message_ids: vec![created.sid],
        })
    }
}
