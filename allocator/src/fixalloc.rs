//! A free-list allocator for span structs (Go's `fixalloc`, used for `mheap.spanalloc`).
//!
//! Span structs are allocated in chunks and never freed while the heap lives, so a stale pointer
//! to a span (from the arena map or a racing reader) always points at a valid `MSpan`, whose
//! state says whether it still describes those pages. Freed structs go on a free list threaded
//! through [`SpanLocal::next`](crate::mspan::SpanLocal::next) and are reused without being
//! cleared, as Go's are: `sweepgen` must survive reuse.
//!
//! Invariant: the free list is only touched under the heap lock (the [`SpanSlab`] lives inside
//! the locked part of the heap), and a struct on it is `Dead` and owned by the list.

use crate::mspan::MSpan;
use core::ptr::NonNull;
use std::alloc::Layout;

/// Span structs per chunk (Go's chunk is 16 KiB; ours holds 64 structs).
const CHUNK_SPANS: usize = 64;

/// The span-struct allocator (Go's `fixalloc` for `mspan`).
#[doc(alias = "fixalloc")]
pub struct SpanSlab {
    free: Option<NonNull<MSpan>>,
    chunks: Vec<NonNull<MSpan>>,
    /// Structs handed out and not returned.
    pub in_use: usize,
}

// SAFETY: the slab is only used under the heap lock; the pointers it holds are to its own chunks.
unsafe impl Send for SpanSlab {}

impl Default for SpanSlab {
    fn default() -> Self {
        Self::new()
    }
}

impl SpanSlab {
    /// An empty slab.
    pub fn new() -> SpanSlab {
        SpanSlab { free: None, chunks: Vec::new(), in_use: 0 }
    }

    fn layout() -> Layout {
        Layout::array::<MSpan>(CHUNK_SPANS).expect("span chunk layout")
    }

    /// Bytes of metadata the slab holds.
    pub fn bytes(&self) -> usize {
        self.chunks.len() * Self::layout().size()
    }

    /// Take a span struct (Dead, geometry stale).
    pub fn alloc(&mut self) -> NonNull<MSpan> {
        if self.free.is_none() {
            self.grow();
        }
        let s = self.free.expect("span slab grew");
        // SAFETY: structs on the free list are Dead and owned by the list, which the heap lock
        // (held by our caller, who has `&mut self`) protects.
        self.free = unsafe { s.as_ref().with_local(|l| l.next.take()) };
        self.in_use += 1;
        s
    }

    /// Return a span struct.
    ///
    /// # Safety
    /// - `s` came from [`SpanSlab::alloc`] on this slab and was not freed since; it is Dead and
    ///   unreachable except through stale pointers (which only load its atomics). [`alloc`]
    ///   hands it out again and writes through it.
    ///
    /// [`alloc`]: SpanSlab::alloc
    pub unsafe fn free(&mut self, s: NonNull<MSpan>) {
        let head = self.free;
        // SAFETY: the caller gives up ownership of a Dead span; we hold the heap lock.
        unsafe { s.as_ref().with_local(|l| l.next = head) };
        self.free = Some(s);
        self.in_use -= 1;
    }

    fn grow(&mut self) {
        let layout = Self::layout();
        // SAFETY: the layout has non-zero size.
        let p = unsafe { std::alloc::alloc(layout) } as *mut MSpan;
        let Some(chunk) = NonNull::new(p) else { std::alloc::handle_alloc_error(layout) };
        for i in (0..CHUNK_SPANS).rev() {
            // SAFETY: `i < CHUNK_SPANS`, inside the fresh chunk; each slot is written once with
            // a valid MSpan before any read.
            let s = unsafe {
                let sp = chunk.as_ptr().add(i);
                sp.write(MSpan::new());
                NonNull::new_unchecked(sp)
            };
            let head = self.free;
            // SAFETY: the struct was just created and is owned by the slab.
            unsafe { s.as_ref().with_local(|l| l.next = head) };
            self.free = Some(s);
        }
        self.chunks.push(chunk);
    }
}

impl Drop for SpanSlab {
    fn drop(&mut self) {
        for &c in &self.chunks {
            for i in 0..CHUNK_SPANS {
                // SAFETY: every slot of every chunk was initialised in `grow`.
                unsafe { core::ptr::drop_in_place(c.as_ptr().add(i)) };
            }
            // SAFETY: allocated in `grow` with the same layout.
            unsafe { std::alloc::dealloc(c.as_ptr() as *mut u8, Self::layout()) };
        }
    }
}
