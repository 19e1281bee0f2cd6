//! glibc malloc settings for hiha's programs.
//!
//! hiha's coder allocates a few arrays the size of a chunk per trial step
//! and per decode (indices, coefficients, reconstructions), megabytes each.
//! glibc serves such blocks with fresh `mmap`s, or trims them off the heap
//! as soon as they are freed, so every trial and every decode faults in
//! and clears the same pages again. On the 2-core machine that cost 30 %
//! of a decode of GFS u at NRMSE 1e-3 and 25 % of a compress of GFS t at
//! max-rel 1e-4 (docs/ALGORITHM.md, "Fresh pages").
//!
//! [`tune`] raises the `mmap` threshold to 32 MiB and the trim threshold to
//! 64 MiB, so freed blocks are reused instead. A program calls it first
//! thing, before any thread starts. It is a library's choice only where the
//! process is hiha's own: the Python extension leaves the interpreter's
//! allocator alone unless its user calls `hiha.tune_malloc()`.
//!
//! On other platforms and C libraries [`tune`] does nothing.

/// Blocks up to this many bytes come from the heap, not from `mmap`
/// (glibc's maximum on 64-bit targets; half that on 32-bit ones).
#[cfg(target_pointer_width = "64")]
pub const MMAP_THRESHOLD: i32 = 32 << 20;
/// Blocks up to this many bytes come from the heap, not from `mmap`
/// (glibc's maximum on 32-bit targets).
#[cfg(not(target_pointer_width = "64"))]
pub const MMAP_THRESHOLD: i32 = 16 << 20;
/// Free memory at the top of a heap is given back only above this.
pub const TRIM_THRESHOLD: i32 = 64 << 20;

/// Applies the settings above; `true` when glibc took both.
pub fn tune() -> bool {
    imp::tune()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod imp {
    pub fn tune() -> bool {
        // SAFETY: mallopt only sets process-wide malloc parameters; it has
        // no pointer arguments, and glibc takes its lock to change them.
        let mmap = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, super::MMAP_THRESHOLD) };
        // SAFETY: as above.
        let trim = unsafe { libc::mallopt(libc::M_TRIM_THRESHOLD, super::TRIM_THRESHOLD) };
        mmap == 1 && trim == 1
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod imp {
    pub fn tune() -> bool {
        false
    }
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    /// Minor page faults of this thread so far.
    fn faults() -> i64 {
        // SAFETY: getrusage writes one `rusage` into the zeroed value given.
        let mut u: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: as above; RUSAGE_THREAD is Linux's, and `u` outlives the call.
        let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut u) };
        assert_eq!(rc, 0);
        u.ru_minflt
    }

    /// What a decode does: eight blocks of 3 MiB allocated, filled and
    /// freed together. Returns the page faults it took.
    fn round() -> i64 {
        const N: usize = 3 << 20;
        let before = faults();
        let blocks: Vec<Vec<u8>> = (0..8).map(|_| std::hint::black_box(vec![1u8; N])).collect();
        assert_eq!(blocks.iter().map(|b| b[N - 1] as usize).sum::<usize>(), 8);
        drop(blocks);
        faults() - before
    }

    #[test]
    fn freed_blocks_are_reused_without_faulting_their_pages_again() {
        // Untuned, glibc gives the 24 MiB back on every free (its dynamic
        // trim threshold is twice the largest block), and the next round
        // faults all 6144 pages in again (a few dozen where transparent
        // huge pages back the heap: then there is nothing to compare).
        round();
        let untuned = round();
        assert!(super::tune());
        round();
        let tuned = round();
        if untuned > 1000 {
            assert!(
                tuned < 64,
                "{tuned} page faults for reused blocks, {untuned} untuned"
            );
        }
    }
}
