//! Fault injection for crash tests: with `CLOZE_FAULT=NAME` (or `NAME@STEP`) in the environment,
//! the process aborts at the named point, as abruptly as `kill -9` (no destructor or cleanup
//! runs), so tests can crash it exactly where a real crash would do the most harm.

/// The environment variable naming where to abort.
pub const VARIABLE: &str = "CLOZE_FAULT";

/// Aborts the process if `CLOZE_FAULT` names this point (`name`, or `name@step`).
pub fn point(name: &str, step: u64) {
    let Some(wanted) = std::env::var_os(VARIABLE) else {
        return;
    };
    let wanted = wanted.to_string_lossy();
    let hit = match wanted.split_once('@') {
        Some((n, s)) => n == name && s.parse() == Ok(step),
        None => wanted == name,
    };
    if hit {
        eprintln!("{VARIABLE}={wanted}: aborting at {name} (step {step})");
        std::process::abort();
    }
}
