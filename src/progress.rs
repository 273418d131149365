//! Progress bars on standard error, hidden when it is not a terminal so logs stay clean.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

fn target() -> ProgressDrawTarget {
    if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    }
}

/// A bar over a number of bytes, with throughput and ETA.
pub fn bytes_bar(total: u64, message: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), target());
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:>12} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
        )
        .expect("valid template"),
    );
    bar.set_message(message.to_owned());
    bar
}

/// A bar over a number of items.
pub fn items_bar(total: u64, message: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), target());
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:>12} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} {per_sec} ETA {eta}",
        )
        .expect("valid template"),
    );
    bar.set_message(message.to_owned());
    bar
}

/// A bar over training steps, starting at `start` (a resumed run), with a message for the
/// step's figures.
pub fn steps_bar(total: u64, start: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), target());
    bar.set_style(
        ProgressStyle::with_template(
            "step {pos}/{len} [{elapsed_precise}] {wide_bar} {msg} ETA {eta}",
        )
        .expect("valid template"),
    );
    bar.set_position(start);
    bar.reset_eta();
    bar
}
