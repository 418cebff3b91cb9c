//! A global allocator that remembers the largest single allocation, so a target can check
//! that a decoder allocates in proportion to its input rather than to the lengths the input
//! claims.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, noting the largest request since [`largest_allocation`] last reset.
/// Install it in a target with `#[global_allocator]`.
pub struct TrackingAllocator;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; only a size is recorded.
unsafe impl GlobalAlloc for TrackingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        System.alloc_zeroed(layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

/// Runs `work` and returns its result with the largest single allocation it made (0 when
/// [`TrackingAllocator`] is not the global allocator).
pub fn largest_allocation<T>(work: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.store(0, Ordering::Relaxed);
    let result = work();
    (result, LARGEST.load(Ordering::Relaxed))
}

/// What a decoder may allocate at once for `input_len` bytes of input: a few times the input
/// (copies, a `String` per field) plus room for small fixed buffers, far below the 1 MiB a
/// lying length prefix would reserve.
pub fn allocation_budget(input_len: usize) -> usize {
    4 * input_len + 16 * 1024
}
