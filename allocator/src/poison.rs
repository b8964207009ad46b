//! AddressSanitizer poisoning of free heap memory.
//!
//! ASan only knows the memory the system allocator hands out; our heap lives in our own
//! mappings, so a use after free inside it is invisible unless we tell ASan which bytes are
//! dead. Built with `--cfg gomem_asan` (see `docs/testing.md`, which passes it together with
//! `-Zsanitizer=address`), the heap poisons every slot of a new small span, unpoisons a slot when
//! it is handed out, poisons each object the sweeper frees and a whole span when it goes back to
//! the page heap. In every other build these functions are empty and inline to nothing.

/// Whether this build poisons (built with `--cfg gomem_asan`). Callers skip work that exists
/// only to compute what to poison.
pub(crate) const ENABLED: bool = cfg!(gomem_asan);

/// Mark `[addr, addr+len)` as unaddressable.
#[inline(always)]
pub(crate) fn poison(addr: usize, len: usize) {
    #[cfg(gomem_asan)]
    // SAFETY: the ASan runtime is linked in sanitizer builds (the only builds with this cfg); the
    // call only changes shadow memory for a range of our own mapping.
    unsafe {
        __asan_poison_memory_region(addr as *const core::ffi::c_void, len)
    };
    #[cfg(not(gomem_asan))]
    let _ = (addr, len);
}

/// Mark `[addr, addr+len)` as addressable again.
#[inline(always)]
pub(crate) fn unpoison(addr: usize, len: usize) {
    #[cfg(gomem_asan)]
    // SAFETY: as in `poison`.
    unsafe {
        __asan_unpoison_memory_region(addr as *const core::ffi::c_void, len)
    };
    #[cfg(not(gomem_asan))]
    let _ = (addr, len);
}

#[cfg(gomem_asan)]
extern "C" {
    fn __asan_poison_memory_region(addr: *const core::ffi::c_void, size: usize);
    fn __asan_unpoison_memory_region(addr: *const core::ffi::c_void, size: usize);
}
