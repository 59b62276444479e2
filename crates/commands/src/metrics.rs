//! What the write path reports to the `metrics` facade (a no-op until a process installs a
//! recorder): each command's outcome by kind, and the retries after version clashes. Labels
//! come from fixed sets only: command kinds, outcome words and contract error codes.

use crate::error::CommandError;

/// Counter: commands answered, labels `kind`, `outcome` (`ok`, `refused`, `failed`) and, when
/// not `ok`, `code` (the contract error code: the refusal's, `concurrency_conflict`,
/// `unauthenticated` or `unavailable`).
pub const COMMANDS_TOTAL: &str = "hub_commands_total";
/// Counter: commands decided again after another writer changed a stream they append to,
/// label `kind`.
pub const CONFLICT_RETRIES_TOTAL: &str = "hub_command_conflict_retries_total";

/// Describes the write path's metrics to the installed recorder.
pub fn describe() {
    metrics::describe_counter!(
        COMMANDS_TOTAL,
        metrics::Unit::Count,
        "Commands answered, by kind and outcome (ok, refused with its error code, failed)"
    );
    metrics::describe_counter!(
        CONFLICT_RETRIES_TOTAL,
        metrics::Unit::Count,
        "Commands decided again after a concurrency conflict, by kind"
    );
}

/// Counts one command's answer.
pub(crate) fn answered<T>(kind: &'static str, result: &Result<T, CommandError>) {
    let (outcome, code) = match result {
        Ok(_) => {
            metrics::counter!(COMMANDS_TOTAL, "kind" => kind, "outcome" => "ok").increment(1);
            return;
        }
        Err(CommandError::Refused(refusal)) => ("refused", refusal.code()),
        Err(CommandError::Unauthenticated) => ("refused", "unauthenticated"),
        Err(CommandError::Conflict { .. }) => ("failed", "concurrency_conflict"),
        Err(_) => ("failed", "unavailable"),
    };
    metrics::counter!(COMMANDS_TOTAL, "kind" => kind, "outcome" => outcome, "code" => code)
        .increment(1);
}

/// Counts a command decided again after a version clash.
pub(crate) fn conflict_retry(kind: &'static str) {
    metrics::counter!(CONFLICT_RETRIES_TOTAL, "kind" => kind).increment(1);
}

/// The last segment of a type's path (`dispatch::outbound::ClaimMessage` → `ClaimMessage`),
/// the kind of a decision that does not name its own.
pub(crate) fn type_kind<T: ?Sized>() -> &'static str {
    let name = std::any::type_name::<T>();
    let name = name.split('<').next().unwrap_or(name);
    name.rsplit("::").next().unwrap_or(name)
}

#[cfg(test)]
mod tests {
    struct ClaimMessage;

    #[test]
    fn a_type_names_its_kind() {
        assert_eq!(super::type_kind::<ClaimMessage>(), "ClaimMessage");
        assert_eq!(super::type_kind::<Vec<ClaimMessage>>(), "Vec");
    }
}
