//! How the process's allocator treats tensor buffers.
//!
//! burn-flex allocates a fresh buffer of up to megabytes for nearly every tensor operation and
//! frees it soon after. glibc serves blocks above its mmap threshold straight from the kernel and
//! returns them on free, so each one is faulted in and zeroed page by page again: a sixth of a
//! quickstart step's samples were page faults in the kernel, on the thread that runs the graph.
//! Raising the mmap and trim thresholds keeps freed buffers in the heap for the next operation.
//! (mimalloc as the global allocator did the same only with purging turned off, and spent more
//! time in the kernel than this.)

/// Keeps freed buffers of up to 1 GiB in the process for reuse; glibc only, elsewhere nothing.
pub fn keep_freed_tensor_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const GIB: libc::c_int = 1 << 30;
        // SAFETY: mallopt only sets allocator parameters; a failure leaves the defaults.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, GIB);
            libc::mallopt(libc::M_TRIM_THRESHOLD, GIB);
        }
    }
}
