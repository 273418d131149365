//! Ctrl-C during training: the first one asks the run to checkpoint after its current step and
//! stop; a second one exits at once, without a checkpoint.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The exit status after a second Ctrl-C.
pub const EXIT_INTERRUPTED_AGAIN: i32 = 130;

/// A flag that the first Ctrl-C sets (the run checkpoints and stops); a second one exits at once.
pub fn stop_on_interrupt() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let installed = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            eprintln!("\ninterrupted again: exiting without a checkpoint");
            std::process::exit(EXIT_INTERRUPTED_AGAIN);
        }
        eprintln!("\ninterrupted: writing a checkpoint after this step (Ctrl-C again to quit now)");
    });
    if let Err(e) = installed {
        tracing::warn!(
            "cannot catch Ctrl-C ({e}); an interrupted run resumes from its last checkpoint"
        );
    }
    stop
}
