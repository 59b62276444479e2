//! Attachment media types, their magic bytes, and per-channel size limits.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::channel::Channel;
use crate::error::DomainError;
use crate::ids::AttachmentId;

const MIB: u64 = 1024 * 1024;

/// The largest file the hub stores at all (the portal's limit, the largest of any channel).
pub const MAX_ATTACHMENT_BYTES: u64 = 50 * MIB;

/// How many leading bytes [`MediaType::matches_content`] needs to decide.
pub const SNIFF_BYTES: usize = 64 * 1024;

/// An accepted attachment media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum MediaType {
    /// `image/jpeg`
    #[serde(rename = "image/jpeg")]
    Jpeg,
    /// `image/png`
    #[serde(rename = "image/png")]
    Png,
    /// `image/webp`
    #[serde(rename = "image/webp")]
    Webp,
    /// `image/gif`
    #[serde(rename = "image/gif")]
    Gif,
    /// `application/pdf`
    #[serde(rename = "application/pdf")]
    Pdf,
    /// `text/plain`
    #[serde(rename = "text/plain")]
    PlainText,
    /// `application/msword` (legacy Word, OLE compound file)
    #[serde(rename = "application/msword")]
    MsWord,
    /// OOXML Word document
    #[serde(rename = "application/vnd.openxmlformats-officedocument.wordprocessingml.document")]
    Docx,
    /// OOXML spreadsheet
    #[serde(rename = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")]
    Xlsx,
    /// ODF text document
    #[serde(rename = "application/vnd.oasis.opendocument.text")]
    Odt,
}

impl MediaType {
    /// All accepted media types.
    pub const ALL: [MediaType; 10] = [
        MediaType::Jpeg,
        MediaType::Png,
        MediaType::Webp,
        MediaType::Gif,
        MediaType::Pdf,
        MediaType::PlainText,
        MediaType::MsWord,
        MediaType::Docx,
        MediaType::Xlsx,
        MediaType::Odt,
    ];

    /// The MIME type string.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::Jpeg => "image/jpeg",
            MediaType::Png => "image/png",
            MediaType::Webp => "image/webp",
            MediaType::Gif => "image/gif",
            MediaType::Pdf => "application/pdf",
            MediaType::PlainText => "text/plain",
            MediaType::MsWord => "application/msword",
            MediaType::Docx => {
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            }
            MediaType::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            MediaType::Odt => "application/vnd.oasis.opendocument.text",
        }
    }

    /// Whether this is an image (WhatsApp limits images more tightly than documents).
    pub fn is_image(self) -> bool {
        matches!(
            self,
            MediaType::Jpeg | MediaType::Png | MediaType::Webp | MediaType::Gif
        )
    }

    /// Parses a declared `Content-Type`, ignoring parameters such as `; charset=utf-8`.
    pub fn from_content_type(raw: &str) -> Result<Self, DomainError> {
        let essence = raw
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        MediaType::ALL
            .into_iter()
            .find(|media| media.as_str() == essence)
            .ok_or_else(|| {
                DomainError::UnsupportedMediaType(format!("media type `{essence}` is not accepted"))
            })
    }

    /// Whether the file's leading bytes (up to [`SNIFF_BYTES`]) match this type's signature.
    pub fn matches_content(self, head: &[u8]) -> bool {
        match self {
            MediaType::Jpeg => head.starts_with(&[0xFF, 0xD8, 0xFF]),
            MediaType::Png => head.starts_with(b"\x89PNG\r\n\x1a\n"),
            MediaType::Webp => head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP",
            MediaType::Gif => head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a"),
            MediaType::Pdf => head.starts_with(b"%PDF-"),
            MediaType::MsWord => {
                head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1])
            }
            MediaType::Docx => is_zip(head) && contains(head, b"word/"),
            MediaType::Xlsx => is_zip(head) && contains(head, b"xl/"),
            MediaType::Odt => {
                is_zip(head) && contains(head, b"mimetypeapplication/vnd.oasis.opendocument.text")
            }
            MediaType::PlainText => is_plain_text(head),
        }
    }
}

fn is_zip(head: &[u8]) -> bool {
    head.starts_with(b"PK\x03\x04")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// UTF-8 text without NUL bytes; a multi-byte character cut off at the end of the sample is fine.
fn is_plain_text(head: &[u8]) -> bool {
    if head.contains(&0) {
        return false;
    }
    match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(error) => error.error_len().is_none(),
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MediaType {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MediaType::from_content_type(s)
    }
}

/// A stored file as a message refers to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AttachmentRef {
    /// The attachment's id.
    pub id: AttachmentId,
    /// Its verified media type.
    pub media_type: MediaType,
    /// Size in bytes.
    pub size: u64,
    /// Hex SHA-256 of the content; the blob's address.
    pub sha256: String,
    /// The file name given at upload, if any.
    pub filename: Option<String>,
}

/// Checks a message's attachments against its channel: whether it carries any, and the size limits.
pub fn validate_attachments(
    channel: Channel,
    attachments: &[AttachmentRef],
) -> Result<(), DomainError> {
    if attachments.is_empty() {
        return Ok(());
    }
    let too_large = |what: String| Err(DomainError::AttachmentTooLarge(what));
    let total: u64 = attachments.iter().map(|a| a.size).sum();
    match channel {
        Channel::Sms | Channel::Call => Err(DomainError::AttachmentsNotAllowed(channel)),
        Channel::Email if total > 25 * MIB => {
            too_large("e-mail attachments may total at most 25 MiB per message".into())
        }
        Channel::Portal if total > 50 * MIB => {
            too_large("portal attachments may total at most 50 MiB per message".into())
        }
        Channel::Whatsapp => {
            for attachment in attachments {
                let (limit, kind) = if attachment.media_type.is_image() {
                    (5 * MIB, "image")
                } else {
                    (16 * MIB, "document")
                };
                if attachment.size > limit {
                    return too_large(format!(
                        "a WhatsApp {kind} may be at most {} MiB",
                        limit / MIB
                    ));
                }
            }
            Ok(())
        }
        Channel::Email | Channel::Portal => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn attachment(media_type: MediaType, size: u64) -> AttachmentRef {
        AttachmentRef {
            id: AttachmentId(Uuid::nil()),
            media_type,
            size,
            sha256: String::new(),
            filename: None,
        }
    }

    #[test]
    fn magic_bytes_decide_the_type() {
        assert!(MediaType::Pdf.matches_content(b"%PDF-1.7\n..."));
        assert!(!MediaType::Pdf.matches_content(b"\x89PNG\r\n\x1a\n"));
        assert!(MediaType::Png.matches_content(b"\x89PNG\r\n\x1a\n...."));
        assert!(MediaType::Jpeg.matches_content(&[0xFF, 0xD8, 0xFF, 0xE0]));
        assert!(MediaType::Gif.matches_content(b"GIF89a..."));
        assert!(MediaType::Webp.matches_content(b"RIFF\0\0\0\0WEBPVP8 "));
        assert!(MediaType::PlainText.matches_content("Grüße".as_bytes()));
        assert!(!MediaType::PlainText.matches_content(b"\x00\x01binary"));
        assert!(MediaType::Docx.matches_content(b"PK\x03\x04....word/document.xml"));
        assert!(!MediaType::Docx.matches_content(b"PK\x03\x04....xl/workbook.xml"));
        assert!(MediaType::Xlsx.matches_content(b"PK\x03\x04....xl/workbook.xml"));
        assert!(MediaType::Odt
            .matches_content(b"PK\x03\x04....mimetypeapplication/vnd.oasis.opendocument.text"));
    }

    #[test]
    fn content_types_parse_with_parameters() {
        assert_eq!(
            MediaType::from_content_type("text/plain; charset=utf-8").unwrap(),
            MediaType::PlainText
        );
        assert_eq!(
            MediaType::from_content_type("application/zip")
                .unwrap_err()
                .code(),
            "unsupported_media_type"
        );
    }

    #[test]
    fn channels_limit_attachments() {
        let pdf = attachment(MediaType::Pdf, 1024);
        assert_eq!(
            validate_attachments(Channel::Sms, std::slice::from_ref(&pdf))
                .unwrap_err()
                .code(),
            "attachments_not_allowed"
        );
        assert!(validate_attachments(Channel::Email, std::slice::from_ref(&pdf)).is_ok());
        let big_image = attachment(MediaType::Png, 6 * MIB);
        assert_eq!(
            validate_attachments(Channel::Whatsapp, std::slice::from_ref(&big_image))
                .unwrap_err()
                .code(),
            "attachment_too_large"
        );
        assert!(validate_attachments(Channel::Email, &[big_image]).is_ok());
        let document = attachment(MediaType::Pdf, 15 * MIB);
        assert!(validate_attachments(Channel::Whatsapp, std::slice::from_ref(&document)).is_ok());
        assert!(validate_attachments(Channel::Email, &[document.clone(), document]).is_err());
    }
}
