//! SMS consent keywords: what a patient texts to opt out of SMS or back in.

/// Whole-message keywords that opt a patient out of SMS (any case).
pub const SMS_OPT_OUT_KEYWORDS: [&str; 8] = [
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "REVOKE",
    "OPTOUT",
];

/// Whole-message keywords that opt a patient back in to SMS (any case).
pub const SMS_OPT_IN_KEYWORDS: [&str; 3] = ["START", "UNSTOP", "YES"];

/// The consent an inbound SMS text asks for: `Some(false)` for an opt-out keyword,
/// `Some(true)` for an opt-in keyword, `None` for any other text. Only the whole text counts
/// (surrounding white space aside), in any case.
pub fn sms_consent_keyword(text: &str) -> Option<bool> {
    let word = text.trim().to_ascii_uppercase();
    if SMS_OPT_OUT_KEYWORDS.contains(&word.as_str()) {
        Some(false)
    } else if SMS_OPT_IN_KEYWORDS.contains(&word.as_str()) {
        Some(true)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::sms_consent_keyword;

    #[test]
    fn keywords_are_whole_messages_in_any_case() {
        assert_eq!(sms_consent_keyword("stop"), Some(false));
        assert_eq!(sms_consent_keyword(" OptOut \n"), Some(false));
        assert_eq!(sms_consent_keyword("Start"), Some(true));
        assert_eq!(sms_consent_keyword("yes"), Some(true));
        assert_eq!(sms_consent_keyword("please stop"), None);
        assert_eq!(sms_consent_keyword("STOP!"), None);
        assert_eq!(sms_consent_keyword(""), None);
    }
}
