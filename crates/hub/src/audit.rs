//! `hub audit verify`: recomputes the log's hash chain and says whether it holds.

use crate::cli::{AuditArgs, AuditCommand};
use crate::run::open_event_store;
use store::chain::{self, Verdict};

/// Runs `hub audit`. A chain that does not hold prints its first bad position and exits 1.
pub async fn run(args: AuditArgs) -> anyhow::Result<()> {
    let AuditCommand::Verify { storage, from } = args.command;
    let store = open_event_store(&storage).await?;
    let head = store.head_position().await?;
    let bar = indicatif::ProgressBar::new(head.saturating_sub(from - 1));
    bar.set_style(indicatif::ProgressStyle::with_template(
        "{bar:40} {pos}/{len} events  {per_sec}",
    )?);
    let verdict = chain::verify(store.as_ref(), from, |position| {
        bar.set_position(position + 1 - from);
    })
    .await?;
    bar.finish_and_clear();
    match verdict {
        Verdict::Holds {
            count,
            position,
            hash,
        } => {
            println!("ok {count} events, head {position} {hash}");
            Ok(())
        }
        Verdict::Broken(broken) => {
            println!("mismatch at position {}: {broken}", broken.position());
            std::process::exit(1);
        }
        other => anyhow::bail!("unexpected verdict {other:?}"),
    }
}
