//! Data keys for crypto-shredding: personal data is written to the log encrypted with a key of
//! its subject's own (a patient), and erasing the subject destroys the key, so the log never
//! changes and still no longer says anything about the subject.
//!
//! # Design
//!
//! - **Keys live outside the log**, in the `subject_keys` table of the same database: a 256-bit
//!   data key per subject, stored *wrapped* (AES-256-GCM) under a key-encryption key (KEK).
//!   Destroying a key sets its row to `wrapped = NULL`; the row stays, so the key is never
//!   made again and a write for the subject is refused. Both databases are told to overwrite
//!   what they delete (`secure_delete` and a WAL checkpoint on SQLite, `VACUUM FULL` of the
//!   small key table on PostgreSQL), so the old wrapped key leaves the database files too.
//! - **The KEK** comes from `HUB_MASTER_KEY` when it is set (64 hex digits or base64 of 32
//!   bytes). Without it, the embedded default generates one in `master.key` beside the event
//!   log (mode 0600) and says so; PostgreSQL keeps a generated one in its `master_key` table,
//!   which protects nothing against someone who can read the database, and says so at start.
//! - **The sealed form** in an event's data is `{"key": <subject>, "nonce", "ciphertext"}`
//!   (base64): AES-256-GCM over the personal fields as JSON, with the event id as associated
//!   data, so a sealed value cannot be moved to another event.
//! - **Every read loads the keys it needs**: the stores load the keys of the sealed records a
//!   read returns before answering (one query for those not yet known), so decoding stays a
//!   plain function over a record and this cache. A key made or destroyed by another process
//!   is learned when one of its records is read, or (destroyed) when the erasure's event is
//!   decoded ([`Keyring::forget`]).
//!
//! Rejected: one key per event (erasure would have to find every event), encrypting whole
//! events (the log's envelope, streams and types must stay readable for replay and audit), and
//! keeping keys in the log (it can never forget them).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::RwLock;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Row, SqlitePool};
use uuid::Uuid;

use crate::{RecordedEvent, StoreError};

/// The length of keys and the nonce of AES-256-GCM.
const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;

/// A value sealed with a subject's data key, as it is stored in an event's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// The subject whose key sealed it.
    pub key: Uuid,
    /// The AES-GCM nonce, base64.
    pub nonce: String,
    /// The ciphertext with its tag, base64.
    pub ciphertext: String,
}

impl Sealed {
    /// The sealed value of a stored event's data (its `sealed` member), if it has one.
    pub fn of(data: &serde_json::Value) -> Option<Sealed> {
        serde_json::from_value(data.get("sealed")?.clone()).ok()
    }
}

/// Why a value cannot be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The subject's key was destroyed: its data is erased.
    #[error("the subject's key was destroyed")]
    Destroyed(Uuid),
    /// The key is not loaded (a read that should have loaded it did not).
    #[error("the subject's key is not loaded")]
    NotLoaded(Uuid),
    /// The ciphertext or a wrapped key does not open with the key that should open it.
    #[error("a sealed value does not open: {0}")]
    Corrupt(String),
}

/// What the cache knows of one subject.
#[derive(Clone)]
enum Slot {
    Key(Key<Aes256Gcm>),
    Destroyed,
}

/// Where the KEK comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterKey {
    /// `HUB_MASTER_KEY`: 64 hex digits or base64 of 32 bytes.
    Given(String),
    /// A file, generated when missing (the embedded default: `master.key` beside the log).
    File(std::path::PathBuf),
    /// Generated once and kept in the database (PostgreSQL without `HUB_MASTER_KEY`).
    InDatabase,
    /// Generated for this process only (an in-memory log).
    Ephemeral,
}

/// The key table of one backend.
#[derive(Clone)]
pub(crate) enum KeyTable {
    Postgres(PgPool),
    Sqlite {
        writer: SqlitePool,
        reader: SqlitePool,
    },
    /// No table: keys live only in this process's cache.
    Memory,
}

/// The data keys of every subject, cached, over the `subject_keys` table.
pub struct Keyring {
    kek: Aes256Gcm,
    table: KeyTable,
    cache: RwLock<HashMap<Uuid, Slot>>,
}

impl Keyring {
    /// Opens the keyring of `table`, with the KEK from `master`.
    pub(crate) async fn open(table: KeyTable, master: &MasterKey) -> Result<Keyring, StoreError> {
        let kek = match master {
            MasterKey::Given(text) => parse_master_key(text)?,
            MasterKey::File(path) => file_master_key(path)?,
            MasterKey::InDatabase => database_master_key(&table).await?,
            MasterKey::Ephemeral => random_key(),
        };
        Ok(Keyring {
            kek: Aes256Gcm::new(&kek),
            table,
            cache: RwLock::default(),
        })
    }

    /// A keyring of this process alone, with no table behind it (for tests and tools that
    /// seal and open without a store).
    pub fn in_memory() -> Keyring {
        Keyring {
            kek: Aes256Gcm::new(&random_key()),
            table: KeyTable::Memory,
            cache: RwLock::default(),
        }
    }

    fn slot(&self, subject: Uuid) -> Option<Slot> {
        self.cache
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&subject)
            .cloned()
    }

    fn remember(&self, subject: Uuid, slot: Slot) {
        self.cache
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(subject, slot);
    }

    /// Makes sure `subject` has a key, making one if it never had: `Destroyed` once erased.
    pub async fn ensure(&self, subject: Uuid) -> Result<(), StoreError> {
        self.ensure_all(&[subject]).await
    }

    /// Makes sure each of `subjects` has a key, making the missing ones in one transaction
    /// (one commit for a whole import, not one per patient); `Destroyed` for an erased one.
    pub async fn ensure_all(&self, subjects: &[Uuid]) -> Result<(), StoreError> {
        let mut missing: Vec<Uuid> = Vec::new();
        for &subject in subjects {
            match self.slot(subject) {
                Some(Slot::Key(_)) => {}
                Some(Slot::Destroyed) => return Err(KeyError::Destroyed(subject).into()),
                None if missing.contains(&subject) => {}
                None => missing.push(subject),
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let wrap_new =
            || -> Vec<Vec<u8>> { missing.iter().map(|_| self.wrap(&random_key())).collect() };
        match &self.table {
            KeyTable::Memory => {
                for &subject in &missing {
                    self.remember(subject, Slot::Key(random_key()));
                }
                return Ok(());
            }
            KeyTable::Postgres(pool) => {
                sqlx::query(
                    "INSERT INTO subject_keys (subject, wrapped) \
                     SELECT * FROM unnest($1::UUID[], $2::BYTEA[]) ON CONFLICT (subject) DO NOTHING",
                )
                .bind(&missing)
                .bind(wrap_new())
                .execute(pool)
                .await?;
            }
            KeyTable::Sqlite { writer, .. } => {
                let mut tx = writer.begin().await?;
                for (subject, wrapped) in missing.iter().zip(wrap_new()) {
                    sqlx::query("INSERT INTO subject_keys (subject, wrapped) VALUES (?1, ?2) ON CONFLICT (subject) DO NOTHING")
                        .bind(subject.to_string())
                        .bind(wrapped)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
            }
        }
        self.load(missing.iter().copied()).await?;
        for subject in missing {
            if !matches!(self.slot(subject), Some(Slot::Key(_))) {
                return Err(KeyError::Destroyed(subject).into());
            }
        }
        Ok(())
    }

    /// Loads the keys of the sealed records among `records` that are not cached yet.
    pub async fn load_for(&self, records: &[RecordedEvent]) -> Result<(), StoreError> {
        let missing: HashSet<Uuid> = {
            let cache = self
                .cache
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            records
                .iter()
                .filter_map(|record| record.data.get("sealed")?.get("key")?.as_str())
                .filter_map(|key| Uuid::parse_str(key).ok())
                .filter(|key| !cache.contains_key(key))
                .collect()
        };
        if missing.is_empty() {
            return Ok(());
        }
        self.load(missing).await
    }

    /// Reads the keys of `subjects` from the table into the cache.
    async fn load(&self, subjects: impl IntoIterator<Item = Uuid>) -> Result<(), StoreError> {
        let subjects: Vec<Uuid> = subjects.into_iter().collect();
        let rows: Vec<(Uuid, Option<Vec<u8>>)> = match &self.table {
            KeyTable::Memory => Vec::new(),
            KeyTable::Postgres(pool) => {
                sqlx::query("SELECT subject, wrapped FROM subject_keys WHERE subject = ANY($1)")
                    .bind(&subjects)
                    .fetch_all(pool)
                    .await?
                    .iter()
                    .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                    .collect::<Result<_, sqlx::Error>>()?
            }
            KeyTable::Sqlite { reader, .. } => {
                let mut rows = Vec::new();
                for subject in &subjects {
                    let wrapped: Option<Option<Vec<u8>>> =
                        sqlx::query_scalar("SELECT wrapped FROM subject_keys WHERE subject = ?1")
                            .bind(subject.to_string())
                            .fetch_optional(reader)
                            .await?;
                    if let Some(wrapped) = wrapped {
                        rows.push((*subject, wrapped));
                    }
                }
                rows
            }
        };
        for (subject, wrapped) in rows {
            let slot = match wrapped {
                Some(wrapped) => Slot::Key(self.unwrap(&wrapped)?),
                None => Slot::Destroyed,
            };
            self.remember(subject, slot);
        }
        Ok(())
    }

    /// Destroys `subject`'s key for good (a key never made is recorded as destroyed, so none
    /// is made later) and has the database overwrite the old wrapped key.
    pub async fn destroy(&self, subject: Uuid) -> Result<(), StoreError> {
        match &self.table {
            KeyTable::Memory => {}
            KeyTable::Postgres(pool) => {
                sqlx::query(
                    "INSERT INTO subject_keys (subject, wrapped, destroyed_at) VALUES ($1, NULL, now()) \
                     ON CONFLICT (subject) DO UPDATE SET wrapped = NULL, destroyed_at = coalesce(subject_keys.destroyed_at, now())",
                )
                .bind(subject)
                .execute(pool)
                .await?;
                // The old row version stays in the table's file until it is rewritten.
                sqlx::query("VACUUM FULL subject_keys")
                    .execute(pool)
                    .await?;
            }
            KeyTable::Sqlite { writer, .. } => {
                sqlx::query(
                    "INSERT INTO subject_keys (subject, wrapped, destroyed_at) \
                     VALUES (?1, NULL, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) \
                     ON CONFLICT (subject) DO UPDATE SET wrapped = NULL, \
                     destroyed_at = coalesce(subject_keys.destroyed_at, excluded.destroyed_at)",
                )
                .bind(subject.to_string())
                .execute(writer)
                .await?;
                // `secure_delete` zeroed the old content in the page; the WAL still holds a
                // copy of the page until it is checkpointed and truncated.
                sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                    .execute(writer)
                    .await?;
            }
        }
        self.forget(subject);
        Ok(())
    }

    /// Forgets `subject`'s key in this process (another process destroyed it).
    pub fn forget(&self, subject: Uuid) {
        self.remember(subject, Slot::Destroyed);
    }

    /// Seals `plaintext` with `subject`'s key (loaded by [`Keyring::ensure`]), bound to `aad`.
    pub fn seal(&self, subject: Uuid, aad: &[u8], plaintext: &[u8]) -> Result<Sealed, KeyError> {
        let key = match self.slot(subject) {
            Some(Slot::Key(key)) => key,
            Some(Slot::Destroyed) => return Err(KeyError::Destroyed(subject)),
            None => return Err(KeyError::NotLoaded(subject)),
        };
        let mut nonce = [0u8; NONCE_LEN];
        rand::thread_rng().fill_bytes(&mut nonce);
        let ciphertext = Aes256Gcm::new(&key)
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| KeyError::Corrupt("encryption failed".into()))?;
        Ok(Sealed {
            key: subject,
            nonce: BASE64.encode(nonce),
            ciphertext: BASE64.encode(ciphertext),
        })
    }

    /// Opens a value sealed bound to `aad`.
    pub fn unseal(&self, sealed: &Sealed, aad: &[u8]) -> Result<Vec<u8>, KeyError> {
        let key = match self.slot(sealed.key) {
            Some(Slot::Key(key)) => key,
            Some(Slot::Destroyed) => return Err(KeyError::Destroyed(sealed.key)),
            None => return Err(KeyError::NotLoaded(sealed.key)),
        };
        let corrupt = |what: &str| KeyError::Corrupt(what.to_owned());
        let nonce = BASE64
            .decode(&sealed.nonce)
            .map_err(|_| corrupt("nonce is not base64"))?;
        if nonce.len() != NONCE_LEN {
            return Err(corrupt("nonce has the wrong length"));
        }
        let ciphertext = BASE64
            .decode(&sealed.ciphertext)
            .map_err(|_| corrupt("ciphertext is not base64"))?;
        Aes256Gcm::new(&key)
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &ciphertext,
                    aad,
                },
            )
            .map_err(|_| corrupt("the tag does not match"))
    }

    fn wrap(&self, key: &Key<Aes256Gcm>) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::thread_rng().fill_bytes(&mut nonce);
        let mut wrapped = nonce.to_vec();
        // Encrypting 32 bytes in memory cannot fail.
        wrapped.extend(
            self.kek
                .encrypt(Nonce::from_slice(&nonce), key.as_slice())
                .unwrap_or_default(),
        );
        wrapped
    }

    fn unwrap(&self, wrapped: &[u8]) -> Result<Key<Aes256Gcm>, StoreError> {
        let fail = || {
            StoreError::from(KeyError::Corrupt(
                "a data key does not unwrap: is HUB_MASTER_KEY the one it was wrapped with?".into(),
            ))
        };
        if wrapped.len() < NONCE_LEN {
            return Err(fail());
        }
        let (nonce, ciphertext) = wrapped.split_at(NONCE_LEN);
        let key = self
            .kek
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| fail())?;
        if key.len() != KEY_LEN {
            return Err(fail());
        }
        Ok(*Key::<Aes256Gcm>::from_slice(&key))
    }
}

fn random_key() -> Key<Aes256Gcm> {
    let mut key = [0u8; KEY_LEN];
    rand::thread_rng().fill_bytes(&mut key);
    Key::<Aes256Gcm>::from(key)
}

/// `HUB_MASTER_KEY`: 64 hex digits, or base64 of 32 bytes.
fn parse_master_key(text: &str) -> Result<Key<Aes256Gcm>, StoreError> {
    let text = text.trim();
    let bytes = if text.len() == 2 * KEY_LEN && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(text).ok()
    } else {
        BASE64.decode(text).ok()
    };
    match bytes {
        Some(bytes) if bytes.len() == KEY_LEN => Ok(*Key::<Aes256Gcm>::from_slice(&bytes)),
        _ => Err(StoreError::InvalidRequest(
            "HUB_MASTER_KEY must be 32 bytes as 64 hex digits or base64".into(),
        )),
    }
}

/// The KEK in `path`, made (readable by the owner only) when the file does not exist. Two
/// processes starting at once agree: the file appears whole or not at all (a link of a
/// finished temporary file), and the one that loses the race reads the winner's.
fn file_master_key(path: &Path) -> Result<Key<Aes256Gcm>, StoreError> {
    let io = |what: &str, error: std::io::Error| {
        StoreError::InvalidRequest(format!("{what} {}: {error}", path.display()))
    };
    if !path.exists() {
        let key = random_key();
        let temporary = path.with_extension(format!("tmp-{}", Uuid::new_v4()));
        std::fs::write(&temporary, hex::encode(key.as_slice()))
            .map_err(|e| io("writing the master key", e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| io("protecting the master key", e))?;
        }
        let linked = std::fs::hard_link(&temporary, path);
        let _ = std::fs::remove_file(&temporary);
        match linked {
            Ok(()) => tracing::warn!(
                path = %path.display(),
                "generated a master key for personal data: back it up with the data folder, or set HUB_MASTER_KEY"
            ),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(error) => return Err(io("creating the master key", error)),
        }
    }
    let text = std::fs::read_to_string(path).map_err(|e| io("reading the master key", e))?;
    parse_master_key(&text)
}

/// The KEK kept in PostgreSQL's `master_key` table, made on first use.
async fn database_master_key(table: &KeyTable) -> Result<Key<Aes256Gcm>, StoreError> {
    let KeyTable::Postgres(pool) = table else {
        return Ok(random_key());
    };
    sqlx::query("INSERT INTO master_key (id, key) VALUES (1, $1) ON CONFLICT (id) DO NOTHING")
        .bind(random_key().as_slice())
        .execute(pool)
        .await?;
    let key: Vec<u8> = sqlx::query_scalar("SELECT key FROM master_key WHERE id = 1")
        .fetch_one(pool)
        .await?;
    tracing::warn!(
        "HUB_MASTER_KEY is not set: the key that wraps patients' data keys is kept in the database; set HUB_MASTER_KEY in production"
    );
    if key.len() != KEY_LEN {
        return Err(KeyError::Corrupt("the stored master key has the wrong length".into()).into());
    }
    Ok(*Key::<Aes256Gcm>::from_slice(&key))
}
