//! Fault injection for crash and failure tests, driven by `CLOZE_FAULT=NAME`, `NAME@STEP` or
//! `NAME@FIRST-LAST` in the environment. Three kinds of point read it:
//!
//! - [`point`] aborts the process, as abruptly as `kill -9` (no destructor or cleanup runs), so
//!   tests can crash it exactly where a real crash would do the most harm; [`kill_point`] sends
//!   it `SIGKILL` itself, for a launcher (`mpirun`) that must see one rank killed;
//! - [`write_error`] fails with the error a full disk gives (ENOSPC), where a write would;
//! - [`active`] tells the caller to misbehave in its own way (a non-finite loss).
//!
//! Without the variable every point is a no-op.

/// The environment variable naming the fault.
pub const VARIABLE: &str = "CLOZE_FAULT";

/// ENOSPC, "No space left on device", on Linux and macOS.
const NO_SPACE: i32 = 28;

/// Whether `CLOZE_FAULT` names this point at this step (`name` alone matches every step).
pub fn active(name: &str, step: u64) -> bool {
    let Some(wanted) = std::env::var_os(VARIABLE) else {
        return false;
    };
    let wanted = wanted.to_string_lossy();
    match wanted.split_once('@') {
        Some((n, steps)) if n == name => match steps.split_once('-') {
            Some((first, last)) => {
                first.parse().is_ok_and(|f: u64| f <= step)
                    && last.parse().is_ok_and(|l: u64| step <= l)
            }
            None => steps.parse() == Ok(step),
        },
        Some(_) => false,
        None => wanted == name,
    }
}

/// Aborts the process if `CLOZE_FAULT` names this point.
pub fn point(name: &str, step: u64) {
    if active(name, step) {
        eprintln!("{VARIABLE}: aborting at {name} (step {step})");
        std::process::abort();
    }
}

/// Kills the process with `SIGKILL` (`kill -9`) if `CLOZE_FAULT` names this point.
pub fn kill_point(name: &str, step: u64) {
    if active(name, step) {
        eprintln!("{VARIABLE}: kill -9 at {name} (step {step})");
        // SAFETY: kill(2) on this process's own id; it does not return.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

/// Fails with "No space left on device" if `CLOZE_FAULT` names this point.
pub fn write_error(name: &str, step: u64) -> std::io::Result<()> {
    if active(name, step) {
        return Err(std::io::Error::from_raw_os_error(NO_SPACE));
    }
    Ok(())
}
