//! The event log as the domain sees it: stored records (JSON, as the `store` crate keeps them)
//! decoded into the domain's typed events and encoded back for appending.
//!
//! Every reader of the log (projections, dispatch, commands) decodes through [`codec::decode`],
//! so an event written long ago is read the same way everywhere: older schema versions go
//! through the [`upcast`] chain first.

#![warn(missing_docs)]

pub mod codec;
pub mod seal;
pub mod upcast;

pub use codec::{decode, encode, DecodeError};
