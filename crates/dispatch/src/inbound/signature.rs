//! HMAC computation and constant-time verification shared by the providers' signature
//! schemes.

use hmac::digest::KeyInit;
use hmac::Mac;

/// A MAC keyed with `key` over the concatenation of `parts`.
fn keyed<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> M {
    // HMAC takes keys of any length (longer ones are hashed first), so the fallback to an
    // all-zero key is never taken; it only spares a panic path.
    let mut mac = <M as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| <M as KeyInit>::new(&Default::default()));
    for part in parts {
        mac.update(part);
    }
    mac
}

/// The MAC of `parts` keyed with `key`.
pub(crate) fn digest<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    keyed::<M>(key, parts).finalize().into_bytes().to_vec()
}

/// Whether `expected` is the MAC of `parts` keyed with `key`, compared in constant time.
pub(crate) fn matches<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]], expected: &[u8]) -> bool {
    keyed::<M>(key, parts).verify_slice(expected).is_ok()
}
