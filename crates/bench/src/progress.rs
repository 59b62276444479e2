//! Progress bars on stderr for the phases a person waits on.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar of `len` units named `unit`, labelled `label`.
pub fn bar(label: &str, len: u64, unit: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    let template = format!("{label:<28} {{bar:30}} {{pos}}/{{len}} {unit} {{per_sec}} ETA {{eta}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}

/// A spinner-like line for a phase of known length in seconds.
pub fn timed(label: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_message(label.to_owned());
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}
