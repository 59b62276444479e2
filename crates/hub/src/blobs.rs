//! Attachment contents in an object store, addressed by their SHA-256.
//!
//! Uploads stream to a staging object while they are hashed and checked, then move to
//! `sha256/<hex>`; identical files are stored once.

use std::path::Path as FsPath;
use std::sync::Arc;

use bytes::Bytes;
use domain::attachment::{MediaType, MAX_ATTACHMENT_BYTES, SNIFF_BYTES};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, WriteMultipart};
use sha2::{Digest, Sha256};
use thiserror::Error;
use uuid::Uuid;

/// Why an upload was refused or failed.
#[derive(Debug, Error)]
pub enum BlobError {
    /// The content does not match the declared media type.
    #[error("the file's content is not {0}")]
    Mismatch(MediaType),
    /// The file is larger than any channel accepts.
    #[error("the file is larger than {} MiB", MAX_ATTACHMENT_BYTES / 1024 / 1024)]
    TooLarge,
    /// The body was empty.
    #[error("the file is empty")]
    Empty,
    /// The request body could not be read.
    #[error("the upload was interrupted: {0}")]
    Body(String),
    /// The request body stopped arriving (the server's body timeout).
    #[error("the upload stopped arriving")]
    Stalled,
    /// The object store failed.
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
}

/// Splits `s3://bucket/some/prefix` into `s3://bucket` and `some/prefix`.
fn split_prefix(url: &str) -> (String, Option<String>) {
    let Some(rest) = url.strip_prefix("s3://") else {
        return (url.to_owned(), None);
    };
    match rest.split_once('/') {
        Some((bucket, prefix)) if !prefix.trim_matches('/').is_empty() => (
            format!("s3://{bucket}"),
            Some(prefix.trim_matches('/').to_owned()),
        ),
        Some((bucket, _)) => (format!("s3://{bucket}"), None),
        None => (url.to_owned(), None),
    }
}

/// A stored file's address and size.
#[derive(Debug, Clone)]
pub struct StoredBlob {
    /// Hex SHA-256 of the content.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

/// Where attachment contents live.
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
}

impl BlobStore {
    /// An S3-compatible bucket named by `url` (`s3://bucket/prefix`), configured from the
    /// standard `AWS_*` environment (`AWS_ENDPOINT`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_REGION`, `AWS_ALLOW_HTTP`).
    pub fn s3(url: &str) -> Result<Self, BlobError> {
        let (bucket_url, prefix) = split_prefix(url);
        let store = AmazonS3Builder::from_env().with_url(bucket_url).build()?;
        let store: Arc<dyn ObjectStore> = Arc::new(store);
        Ok(BlobStore {
            store: match prefix {
                Some(prefix) => Arc::new(PrefixStore::new(store, prefix)),
                None => store,
            },
        })
    }

    /// A blob store on the local file system under `dir` (created if missing).
    pub fn local(dir: &FsPath) -> Result<Self, BlobError> {
        std::fs::create_dir_all(dir).map_err(|e| BlobError::Body(e.to_string()))?;
        Ok(BlobStore {
            store: Arc::new(LocalFileSystem::new_with_prefix(dir)?),
        })
    }

    fn content_path(sha256: &str) -> Path {
        Path::from(format!("sha256/{sha256}"))
    }

    /// Streams `body` into the store, checking the declared type against the leading bytes
    /// and the size against the largest channel limit before anything is kept.
    pub async fn put<S, E>(&self, media_type: MediaType, body: S) -> Result<StoredBlob, BlobError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::error::Error + 'static,
    {
        let staging = Path::from(format!("staging/{}", Uuid::new_v4()));
        let upload = self.store.put_multipart(&staging).await?;
        let mut writer = WriteMultipart::new(upload);
        match Self::copy(media_type, body, &mut writer).await {
            Ok(blob) => {
                writer.finish().await?;
                self.store
                    .rename(&staging, &Self::content_path(&blob.sha256))
                    .await?;
                Ok(blob)
            }
            Err(error) => {
                // The staging object is incomplete; nothing refers to it.
                let _ = writer.abort().await;
                Err(error)
            }
        }
    }

    async fn copy<S, E>(
        media_type: MediaType,
        mut body: S,
        writer: &mut WriteMultipart,
    ) -> Result<StoredBlob, BlobError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::error::Error + 'static,
    {
        let mut hasher = Sha256::new();
        let mut head: Vec<u8> = Vec::with_capacity(SNIFF_BYTES);
        let mut sniffed = false;
        let mut size: u64 = 0;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| {
                if crate::http::body_stalled(&e) {
                    BlobError::Stalled
                } else {
                    BlobError::Body(e.to_string())
                }
            })?;
            size += chunk.len() as u64;
            if size > MAX_ATTACHMENT_BYTES {
                return Err(BlobError::TooLarge);
            }
            if !sniffed {
                let take = (SNIFF_BYTES - head.len()).min(chunk.len());
                head.extend_from_slice(&chunk[..take]);
                if head.len() == SNIFF_BYTES {
                    sniffed = true;
                    if !media_type.matches_content(&head) {
                        return Err(BlobError::Mismatch(media_type));
                    }
                }
            }
            hasher.update(&chunk);
            writer.wait_for_capacity(4).await?;
            writer.write(&chunk);
        }
        if size == 0 {
            return Err(BlobError::Empty);
        }
        if !sniffed && !media_type.matches_content(&head) {
            return Err(BlobError::Mismatch(media_type));
        }
        Ok(StoredBlob {
            sha256: hex::encode(hasher.finalize()),
            size,
        })
    }

    /// Deletes a stored file; a file that is not there is no error.
    pub async fn delete(&self, sha256: &str) -> Result<(), BlobError> {
        match self.store.delete(&Self::content_path(sha256)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// The content of a stored file as a stream.
    pub async fn get(
        &self,
        sha256: &str,
    ) -> Result<BoxStream<'static, Result<Bytes, object_store::Error>>, BlobError> {
        let result = self.store.get(&Self::content_path(sha256)).await?;
        Ok(result.into_stream())
    }
}
