//! Access tokens: `hub_<kind>_<holder id>_<secret>`, 256 random bits, stored only as SHA-256.
//!
//! The holder's id inside the token lets the hub load the holder's own stream and check the
//! digest there, so authentication reads the source of truth and a revocation takes effect at once.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Whom a token authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// A staff member (any staff role).
    Staff(Uuid),
    /// A patient.
    Patient(Uuid),
}

impl Holder {
    /// The holder's id.
    pub fn id(self) -> Uuid {
        match self {
            Holder::Staff(id) | Holder::Patient(id) => id,
        }
    }
}

/// A freshly issued token and its digest.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The token to hand out once.
    pub token: String,
    /// Hex SHA-256 of the token, the only thing kept.
    pub sha256: String,
}

/// Hex SHA-256 of a token.
pub fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Issues a new random token for `holder`.
pub fn issue(holder: Holder) -> IssuedToken {
    let mut secret = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut secret);
    let (kind, id) = match holder {
        Holder::Staff(id) => ("s", id),
        Holder::Patient(id) => ("p", id),
    };
    let token = format!(
        "hub_{kind}_{}_{}",
        id.simple(),
        URL_SAFE_NO_PAD.encode(secret)
    );
    IssuedToken {
        sha256: digest(&token),
        token,
    }
}

/// The holder a token claims to be, if it has the token shape at all.
pub fn holder_of(token: &str) -> Option<Holder> {
    let rest = token.strip_prefix("hub_")?;
    let (kind, rest) = rest.split_once('_')?;
    let (id, secret) = rest.split_once('_')?;
    if secret.len() < 22 {
        return None;
    }
    let id = Uuid::try_parse(id).ok()?;
    match kind {
        "s" => Some(Holder::Staff(id)),
        "p" => Some(Holder::Patient(id)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_name_their_holder_and_differ() {
        let id = Uuid::new_v4();
        let a = issue(Holder::Patient(id));
        let b = issue(Holder::Patient(id));
        assert_ne!(a.token, b.token);
        assert_eq!(holder_of(&a.token), Some(Holder::Patient(id)));
        assert_eq!(a.sha256, digest(&a.token));
        assert_eq!(holder_of("hub_x_abc_def"), None);
        assert_eq!(holder_of("Bearer nonsense"), None);
    }
}
