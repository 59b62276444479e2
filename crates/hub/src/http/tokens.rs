//! Token rotation and revocation, shared by staff and patient routes (admin only).

use domain::Principal;

use super::answers::{Ack, Registered};
use super::AppState;
use crate::error::ApiError;
use commands::token::Holder;
use commands::RequestMeta;

/// Revokes the holder's tokens and issues a new one; answers `{id, token}`.
pub async fn rotate(
    state: &AppState,
    principal: &Principal,
    holder: Holder,
) -> Result<Registered, ApiError> {
    let (token, committed) = state
        .commands
        .replace_token(principal, &RequestMeta::new(), holder, true)
        .await?;
    Ok(Registered {
        id: holder.id(),
        token,
        position: committed.position,
    })
}

/// Revokes every token of the holder.
pub async fn revoke(
    state: &AppState,
    principal: &Principal,
    holder: Holder,
) -> Result<Ack, ApiError> {
    let (_, committed) = state
        .commands
        .replace_token(principal, &RequestMeta::new(), holder, false)
        .await?;
    Ok(Ack {
        id: holder.id(),
        position: committed.position,
    })
}
