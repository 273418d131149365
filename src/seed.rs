//! Deriving seeds from seeds: the run seed combined with a document id, a step, and so on.

/// SplitMix64's finaliser: a cheap, well-mixed bijection of `u64`, so nearby inputs give
/// unrelated outputs.
pub fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// burn's device random state is global to the process: unit tests that seed it and draw from it
/// hold this lock while they do, so that tests running in parallel do not interleave their draws.
#[cfg(test)]
pub(crate) fn device_rng_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
