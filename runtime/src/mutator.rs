//! The mutator API: what a goroutine uses to allocate, link and read heap objects.
//!
//! # Handles are roots by construction
//!
//! Mutator code never holds a raw heap pointer. Every allocation and every pointer it loads
//! comes back as a [`Local<'s, T>`], and making a `Local` pushes its address onto the goroutine's
//! root stack, the precise set of slots the collector scans for this G (the analogue of the
//! pointer slots of a Go stack frame). The roots live until the enclosing scope ends:
//! [`Mutator::scope`] truncates the root stack when its closure returns, and the brand lifetime
//! `'s` keeps a `Local` from outliving its scope (the closure is generic over `'s`, so nothing
//! carrying it can escape). To return one object out of a scope, use [`Mutator::escape`], which
//! re-roots the result in the outer scope, as V8's escapable handle scopes do.
//!
//! # Reads that cannot reach a safepoint need no roots
//!
//! [`Mutator::view`] borrows the mutator shared and gives a [`View`], whose pointer loads make
//! unrooted [`Ref`]s: no root push, valid until the view ends, which must happen before this
//! goroutine can reach a safepoint (the borrow checker sees to it). Why that is sound, and how
//! to keep long walks from holding up a stop-the-world, is in [`crate::view`].
//! [`Mutator::root`] turns a `Ref` into a `Local` when the object must outlive the view.
//!
//! # Stores go through the barrier
//!
//! [`Mutator::set`] and [`Mutator::set_global`] are the only ways to store a pointer, and both
//! call the write barrier ([`crate::barrier`]).
//!
//! # The memory model: racing goroutines are a logic bug, never undefined behaviour
//!
//! Heap objects are shared: any goroutine that can reach an object may read and write it at the
//! same time as another. Every access the API makes to heap memory is therefore atomic, so that
//! no safe program has a data race in Rust's sense:
//!
//! - Pointer fields, array elements and globals are loaded with Acquire and stored with Release
//!   ordering: a goroutine that loads a pointer sees the pointee's initialisation and every
//!   write its publisher made before the store (Go's publication barrier).
//! - Scalar fields ([`Mutator::read`], [`Mutator::write`]) are Relaxed atomic loads and stores
//!   of the field's own size ([`Scalar`] is sealed to the types that have atomics). On x86-64
//!   and AArch64 these are plain loads and stores: no cost. Two goroutines racing on a field
//!   see one value or the other, never a torn one, and there is no ordering between them: to
//!   hand data over, publish it with a pointer store (Release) or synchronise outside the heap.
//! - Byte buffers ([`Mutator::read_bytes`], [`Mutator::write_bytes`]) are copied with Relaxed
//!   atomic accesses of whole aligned words (a buffer always covers whole words of its slot); a
//!   partly covered word at either end of the range is written with a compare-and-swap loop
//!   that changes only the range's bytes. All accesses to a buffer having one size (8 bytes)
//!   keeps clear of mixed-size atomics, which Rust's memory model does not define. Racing
//!   copies can interleave word by word: the result is a mix of the two, not undefined.
//!
//! As in Go, a racy program gets no guarantee of which values it sees; unlike a Rust program
//! with a data race, it keeps every other guarantee. No test can show the absence of data races;
//! ThreadSanitizer runs of the sharing tests are the evidence (`docs/testing.md`).
//!
//! # Safepoints
//!
//! A goroutine reaches a safepoint at every allocation that refilled its cache (the slow path),
//! at every [`Mutator::safepoint`] call, and when it gives up its P in [`Mutator::without_p`].
//! Long loops that allocate nothing should call `safepoint()`: stop-the-world waits for it.

use crate::barrier::{read_pointer, write_pointer};
use crate::globals::{Global, Globals};
use crate::object::{Bytes, Field, Gc, GcType, PtrArray, Scalar};
use crate::state::{GState, PState};
use crate::sync::{AtomicU64, AtomicUsize, Ordering};
use crate::view::{Ref, View};
use core::marker::PhantomData;
use gomem_allocator::sizeclass::{classify, SizeKind};
use gomem_allocator::typedesc::POINTER;
use gomem_allocator::AllocError;
use gomem_allocator::MHeap;
use gomem_collector::barrier::WriteBarrier;
use gomem_collector::cycle::AssistOutcome;
use gomem_sched::GCtx;

/// A rooted handle to a heap object of type `T`, valid for the scope `'s` that created it.
///
/// Copyable and cheap (one word). The object it names stays alive at least until the scope
/// ends, whatever else happens to the heap.
pub struct Local<'s, T> {
    addr: usize,
    _p: PhantomData<(&'s (), *const T)>,
}

/// The traits and `addr` of a one-word handle type `$h<'_, T>` (a field `addr`): `Copy`,
/// `Debug` as `$h(0x...)`, equality by address whatever `T` is (no bounds on `T`, which the
/// derives would add). Shared by [`Local`] and [`Ref`].
macro_rules! handle_impls {
    ($h:ident) => {
        impl<T> Clone for $h<'_, T> {
            fn clone(&self) -> Self {
                *self
            }
        }
        impl<T> Copy for $h<'_, T> {}

        impl<T> core::fmt::Debug for $h<'_, T> {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, concat!(stringify!($h), "({:#x})"), self.addr)
            }
        }

        impl<T> PartialEq for $h<'_, T> {
            fn eq(&self, o: &Self) -> bool {
                self.addr == o.addr
            }
        }
        impl<T> Eq for $h<'_, T> {}

        impl<T> $h<'_, T> {
            /// The object's address (for diagnostics and identity; not a way to access it).
            pub fn addr(self) -> usize {
                self.addr
            }
        }
    };
}
pub(crate) use handle_impls;

handle_impls!(Local);

/// A goroutine's view of the heap while it holds a P, for the scope `'s`.
pub struct Mutator<'s> {
    cx: &'s mut GCtx<PState, GState>,
    /// The runtime's global slots, kept alive by the goroutine's closure (see
    /// [`crate::globals`]): a [`Global`] is used only after its owner id matches this.
    globals: &'s Globals,
    /// The runtime's heap (the one every P's cache allocates from), for object lookups that
    /// need no P.
    heap: &'s MHeap,
    /// The collector's barrier switch (the one every P's `PState::wb` shares), so that a
    /// pointer store outside mark needs no lookup of the P.
    wb: &'s WriteBarrier,
    // Invariant in 's: a Mutator<'long> must not pass for a Mutator<'short> or vice versa.
    _brand: PhantomData<fn(&'s ()) -> &'s ()>,
}

impl<'s> Mutator<'s> {
    pub(crate) fn new(
        cx: &'s mut GCtx<PState, GState>,
        globals: &'s Globals,
        heap: &'s MHeap,
        wb: &'s WriteBarrier,
    ) -> Mutator<'s> {
        Mutator { cx, globals, heap, wb, _brand: PhantomData }
    }

    /// Store `new` into the pointer slot `slot` (Go's `writePointer` with the compiler's
    /// inlined `writeBarrier.enabled` test in front): outside mark, one load of the switch and
    /// the release store; while marking, the whole barrier with this P's buffer.
    ///
    /// # Safety
    /// - As for [`write_pointer`]'s `slot` and `new`.
    #[inline(always)]
    unsafe fn store_pointer(&mut self, slot: usize, new: usize) {
        if self.wb.enabled() {
            // SAFETY: the caller's slot and value; our own P's state, whose barrier is this
            // collector's, on only while it marks.
            unsafe { write_pointer(self.cx.p(), slot, new) };
        } else {
            // SAFETY: the caller guarantees a live, aligned pointer slot, only ever accessed
            // atomically.
            let cell = unsafe { &*(slot as *const AtomicUsize) };
            // ORDERING: Release; pairs with the Acquire in `read_pointer` (as in
            // `write_pointer`, whose store this is when the barrier is off).
            cell.store(new, Ordering::Release);
        }
    }

    /// Push `addr` onto this goroutine's root stack and make its handle. `&self` is enough:
    /// the root stack is this goroutine's alone while it runs (the `&mut` methods that give up
    /// the P, and `scope`'s truncation, cannot run while this borrow lives).
    #[inline(always)]
    fn push_root<T>(&self, addr: usize) -> Local<'s, T> {
        // SAFETY: we are the G's own thread, running with a P (a `Mutator` exists only there,
        // and is neither `Send` nor `Sync`).
        unsafe { self.cx.g().push(addr) };
        Local { addr, _p: PhantomData }
    }

    /// A read-only, unrooted view of the heap for as long as it borrows this mutator (see
    /// [`crate::view`]): loads through it push no roots, and while it or any of its [`Ref`]s
    /// lives no `&mut self` method (nothing that allocates, stores or reaches a safepoint) can
    /// be called.
    #[inline(always)]
    pub fn view(&self) -> View<'_> {
        View::new(self.heap, self.globals, self.cx.preempt())
    }

    /// Root the object a [`Ref`] names in this scope: the `Local` outlives the view. No
    /// safepoint comes between the view's load and this push, so the object is still live.
    #[inline(always)]
    pub fn root<T>(&self, r: Ref<'_, T>) -> Local<'s, T> {
        self.push_root(r.addr())
    }

    /// After an allocation of `size` bytes at `addr` from this P's cache (`refilled`: the
    /// cache's [`take_refilled`](gomem_allocator::MCache::take_refilled), read with the same
    /// lookup of the P as the allocation): root the result; while the collector marks, pay for
    /// the allocation with assist work; if the allocation refilled the cache, test the GC
    /// trigger and poll a safepoint (the new object is rooted before the world can stop).
    ///
    /// The common case is Go's `mallocgc` fast path: one lookup of the P (the caller's), the
    /// root push, and one branch on "refilled or marking" (Go tests `gcBlackenEnabled` and
    /// `shouldhelpgc`); everything else is out of line in [`alloc_slow`](Self::alloc_slow).
    #[inline(always)]
    fn rooted_alloc<T>(&mut self, addr: usize, size: usize, refilled: bool) -> Local<'s, T> {
        let marking = self.wb.enabled();
        let l = self.push_root(addr);
        if refilled | marking {
            self.alloc_slow(size, refilled, marking);
        }
        l
    }

    /// The rest of [`rooted_alloc`](Self::rooted_alloc) when the allocation refilled the cache
    /// or the collector marks: the trigger test (`on_refill`), the assist, the safepoint poll.
    #[cold]
    #[inline(never)]
    fn alloc_slow(&mut self, size: usize, refilled: bool, marking: bool) {
        let mut poll = false;
        if refilled {
            if let Some(trigger) = self.cx.p().collector.on_refill() {
                // This allocation crossed the trigger: this goroutine starts the cycle (Go's
                // mallocgc calling gcStart), without its P, since the start stops the world.
                let c = self.cx.p().collector.clone();
                self.cx.without_p(|| c.gc_start(trigger));
            }
            poll = true;
        }
        if marking {
            let (p, preempt) = self.cx.p_and_preempt();
            let PState { gc, collector, .. } = p;
            // SAFETY: `gc` is the state of the P this goroutine holds, one of the runtime
            // world's Ps.
            match unsafe { collector.assist_alloc(gc, size, &|| preempt.requested()) } {
                AssistOutcome::Paid => {}
                AssistOutcome::Preempted => poll = true,
                AssistOutcome::Park => {
                    self.park_assist();
                    poll = true;
                }
            }
        }
        if poll {
            self.cx.safepoint();
        }
    }

    /// In debt with no mark work in sight: wait without the P for background credit, retrying
    /// the assist each time, until the debt is paid or marking ends (Go's `gcParkAssist` loop
    /// in `gcAssistAlloc`). The new object is already rooted.
    #[cold]
    #[inline(never)]
    fn park_assist(&mut self) {
        loop {
            let collector = self.cx.p().collector.clone();
            self.cx.without_p(|| collector.park_assist());
            let (p, preempt) = self.cx.p_and_preempt();
            let PState { gc, collector, .. } = p;
            // SAFETY: as in `alloc_slow`: the state of the P this goroutine holds.
            match unsafe { collector.assist_alloc(gc, 0, &|| preempt.requested()) } {
                AssistOutcome::Park => continue,
                AssistOutcome::Paid | AssistOutcome::Preempted => return,
            }
        }
    }

    /// Allocate a zeroed `T`.
    #[inline]
    pub fn alloc<T: GcType>(&mut self) -> Result<Local<'s, T>, AllocError> {
        let c = &mut self.cx.p().cache;
        let addr = c.alloc(T::DESC)?.as_ptr() as usize;
        let refilled = c.take_refilled();
        Ok(self.rooted_alloc(addr, T::DESC.size, refilled))
    }

    /// Allocate a zeroed, pointer-free buffer of `len` bytes. Its
    /// [`bytes_len`](Self::bytes_len) is at least `len`: the rest of its slot is usable.
    ///
    /// A buffer never shares a tiny block, unlike Go's small pointer-free allocations: its
    /// reported length reaches the end of its own slot, which a neighbour in the same 16-byte
    /// block would occupy (see `docs/allocator.md`, "Byte buffers are not tiny").
    pub fn alloc_bytes(&mut self, len: usize) -> Result<Local<'s, Bytes>, AllocError> {
        let c = &mut self.cx.p().cache;
        let addr = c.alloc_noscan_untiny(len)?.as_ptr() as usize;
        let refilled = c.take_refilled();
        Ok(self.rooted_alloc(addr, len, refilled))
    }

    /// Allocate a pointer-free buffer holding a copy of `data` (what Go does for `[]byte(s)`:
    /// `rawbyteslice`, then the copy). The slot is not cleared first, only its part past `data`
    /// is (as in Go), so each byte is written once instead of cleared and then written.
    pub fn alloc_bytes_from(&mut self, data: &[u8]) -> Result<Local<'s, Bytes>, AllocError> {
        let c = &mut self.cx.p().cache;
        let p = c.alloc_noscan_untiny_uninit(data.len())?;
        let refilled = c.take_refilled();
        let addr = p.as_ptr() as usize;
        let cap = self.capacity(addr);
        // SAFETY: `p` is a fresh pointer-free object of `cap >= data.len()` bytes that nothing
        // else references yet (a zero-length request gives `zerobase` and `cap == 0`).
        unsafe {
            core::ptr::copy_nonoverlapping(data.as_ptr(), p.as_ptr(), data.len());
            core::ptr::write_bytes(p.as_ptr().add(data.len()), 0, cap - data.len());
        }
        Ok(self.rooted_alloc(addr, data.len(), refilled))
    }

    /// Allocate an array of `len` nil pointers to `T`. Its [`array_len`](Self::array_len) is at
    /// least `len`: the rest of the size-class slot is usable and starts nil.
    ///
    /// As Go's `growslice` does (`roundupsize`), a small array is allocated with its length
    /// rounded up to its size class, so that the pointer bits cover every element `array_len`
    /// admits. Header (over 512 bytes) and large arrays need no rounding: their type tiles the
    /// whole slot, or the requested size, which is what `array_len` reports.
    pub fn alloc_array<T>(&mut self, len: usize) -> Result<Local<'s, PtrArray<T>>, AllocError> {
        let len = array_capacity(len);
        let c = &mut self.cx.p().cache;
        let addr = c.alloc_array(&POINTER, len)?.as_ptr() as usize;
        let refilled = c.take_refilled();
        Ok(self.rooted_alloc(addr, len * 8, refilled))
    }

    /// Load the pointer in field `f` of `obj`, rooted in this scope; `None` for nil.
    #[inline]
    pub fn get<O, T>(&mut self, obj: Local<'_, O>, f: Field<O, Gc<T>>) -> Option<Local<'s, T>> {
        // SAFETY: `obj` is a live object of type O (rooted), and `f` is one of O's pointer
        // fields (Field<O, Gc<T>> is only made by gc_object! for such a field).
        let v = unsafe { read_pointer(obj.addr + f.offset()) };
        (v != 0).then(|| self.push_root(v))
    }

    /// Store `v` (or nil) into pointer field `f` of `obj`, through the write barrier.
    #[inline]
    pub fn set<O, T>(&mut self, obj: Local<'_, O>, f: Field<O, Gc<T>>, v: Option<Local<'_, T>>) {
        let new = v.map_or(0, |l| l.addr);
        // SAFETY: as in `get`; `new` is nil or a live (rooted) object.
        unsafe { self.store_pointer(obj.addr + f.offset(), new) };
    }

    /// Read scalar field `f` of `obj`.
    #[inline]
    pub fn read<O, V: Scalar>(&self, obj: Local<'_, O>, f: Field<O, V>) -> V {
        // SAFETY: `obj` is live and `f` is a field of type V inside it, properly aligned
        // (repr(C) layout computed by offset_of!, alignment at most 8 checked by gc_object!),
        // and accessed only as a V-sized atomic (module docs).
        unsafe { V::load(obj.addr + f.offset()) }
    }

    /// Write scalar field `f` of `obj` (no barrier: scalars hold no pointers).
    #[inline]
    pub fn write<O, V: Scalar>(&mut self, obj: Local<'_, O>, f: Field<O, V>, v: V) {
        // SAFETY: as in `read`.
        unsafe { V::store(obj.addr + f.offset(), v) }
    }

    /// Usable capacity of a heap object that starts at `addr`, in bytes.
    fn capacity(&self, addr: usize) -> usize {
        capacity(self.heap, addr)
    }

    /// Number of elements of a pointer array.
    pub fn array_len<T>(&self, a: Local<'_, PtrArray<T>>) -> usize {
        self.capacity(a.addr) / 8
    }

    /// Element `i` of a pointer array, rooted; panics when out of bounds.
    pub fn array_get<T>(&mut self, a: Local<'_, PtrArray<T>>, i: usize) -> Option<Local<'s, T>> {
        assert!(i < self.array_len(a), "index {i} out of bounds");
        // SAFETY: in bounds of a live pointer array.
        let v = unsafe { read_pointer(a.addr + 8 * i) };
        (v != 0).then(|| self.push_root(v))
    }

    /// Store element `i` of a pointer array through the barrier; panics when out of bounds.
    pub fn array_set<T>(&mut self, a: Local<'_, PtrArray<T>>, i: usize, v: Option<Local<'_, T>>) {
        assert!(i < self.array_len(a), "index {i} out of bounds");
        let new = v.map_or(0, |l| l.addr);
        // SAFETY: in bounds of a live pointer array; `new` is nil or live.
        unsafe { self.store_pointer(a.addr + 8 * i, new) };
    }

    /// Length of a byte buffer (at least what was asked for).
    pub fn bytes_len(&self, b: Local<'_, Bytes>) -> usize {
        self.capacity(b.addr)
    }

    /// Copy bytes out of a buffer at `offset`; panics when out of bounds.
    pub fn read_bytes(&self, b: Local<'_, Bytes>, offset: usize, out: &mut [u8]) {
        let len = self.bytes_len(b);
        assert!(offset.checked_add(out.len()).is_some_and(|e| e <= len), "range out of bounds");
        // SAFETY: the range lies inside the live buffer, which covers whole aligned words.
        unsafe { copy_from_heap(b.addr + offset, out) };
    }

    /// Copy bytes into a buffer at `offset`; panics when out of bounds.
    pub fn write_bytes(&mut self, b: Local<'_, Bytes>, offset: usize, data: &[u8]) {
        let len = self.bytes_len(b);
        assert!(offset.checked_add(data.len()).is_some_and(|e| e <= len), "range out of bounds");
        // SAFETY: the range lies inside the live buffer, which covers whole aligned words.
        unsafe { copy_to_heap(b.addr + offset, data) };
    }

    /// Load a global root, rooted in this scope.
    ///
    /// Panics when `g` was registered with another runtime.
    pub fn global<T>(&mut self, g: Global<T>) -> Option<Local<'s, T>> {
        let slot = g.slot_in(self.globals);
        // SAFETY: `slot` is a slot of this runtime's globals (checked), which live at least as
        // long as this goroutine (`self.globals` borrows them).
        let v = unsafe { read_pointer(slot) };
        (v != 0).then(|| self.push_root(v))
    }

    /// Store into a global root through the write barrier.
    ///
    /// Panics when `g` was registered with another runtime.
    pub fn set_global<T>(&mut self, g: Global<T>, v: Option<Local<'_, T>>) {
        let slot = g.slot_in(self.globals);
        let new = v.map_or(0, |l| l.addr);
        // SAFETY: as in `global`; `new` is nil or live.
        unsafe { self.store_pointer(slot, new) };
    }

    /// This goroutine's mutator for a nested scope (`scope`, `escape`): the same G, P, heap and
    /// barrier, with a brand of its own so its handles cannot leave the scope.
    fn nested(&mut self) -> Mutator<'_> {
        Mutator {
            cx: &mut *self.cx,
            globals: self.globals,
            heap: self.heap,
            wb: self.wb,
            _brand: PhantomData,
        }
    }

    /// Run `f` in a nested scope: the handles it makes are dropped as roots when it returns.
    ///
    /// Entering a scope polls a safepoint (one relaxed load), as Go's compiler polls in function
    /// prologues: code that walks a structure without allocating still stops promptly.
    pub fn scope<R>(&mut self, f: impl for<'i> FnOnce(&mut Mutator<'i>) -> R) -> R {
        self.cx.safepoint();
        // SAFETY: our own G, running.
        let mark = unsafe { self.cx.g().len() };
        let r = {
            let mut inner = self.nested();
            f(&mut inner)
        };
        // SAFETY: as above.
        unsafe { self.cx.g().truncate(mark) };
        r
    }

    /// Run `f` in a nested scope and keep one of its handles alive in this scope (V8's
    /// escapable handle scope): everything else `f` rooted is dropped.
    pub fn escape<T, E>(
        &mut self,
        f: impl for<'i> FnOnce(&mut Mutator<'i>) -> Result<Local<'i, T>, E>,
    ) -> Result<Local<'s, T>, E> {
        self.cx.safepoint();
        // SAFETY: our own G, running.
        let mark = unsafe { self.cx.g().len() };
        let r = {
            let mut inner = self.nested();
            f(&mut inner).map(|l| l.addr)
        };
        // Truncate and re-root with no safepoint in between, so the object stays reachable.
        // SAFETY: as above.
        unsafe { self.cx.g().truncate(mark) };
        r.map(|a| self.push_root(a))
    }

    /// Run a full garbage collection and wait for it, sweeping included (Go's `runtime.GC`).
    /// The goroutine gives up its P meanwhile, so the collector can stop the world.
    pub fn gc(&mut self) {
        let c = self.cx.p().collector.clone();
        self.cx.without_p(|| c.gc());
    }

    /// Completed GC cycles so far (Go's `NumGC`).
    pub fn num_gc(&mut self) -> u32 {
        self.cx.p().collector.num_gc()
    }

    /// The current heap goal in bytes (Go's `NextGC`).
    pub fn heap_goal(&mut self) -> u64 {
        self.cx.p().collector.heap_goal()
    }

    /// Poll for a stop-the-world, a handshake or a preemption request (Go's preemption check
    /// at function entry). A goroutine asked to yield (by sysmon after a 10 ms time slice, or to
    /// make room for a mark worker) goes to the back of the run queue here and resumes on any P.
    #[inline(always)]
    pub fn safepoint(&mut self) {
        self.cx.safepoint();
    }

    /// Yield the P if another goroutine or a mark worker waits for one (Go's `runtime.Gosched`);
    /// also a safepoint. Returns at once when nobody waits.
    #[doc(alias = "Gosched")]
    pub fn gosched(&mut self) {
        self.cx.gosched();
    }

    /// Run blocking work without holding a P (Go's `gopark`, or a blocking system call): the P
    /// goes to a waiting goroutine at once, and the world can stop and the collector can scan
    /// this goroutine's roots meanwhile. `f` cannot touch the heap.
    pub fn without_p<R>(&mut self, f: impl FnOnce() -> R) -> R {
        self.cx.without_p(f)
    }

    /// Run a short call out of the heap (a foreign function, a quick I/O) as Go runs a system
    /// call (`entersyscall`/`exitsyscall`): as in [`without_p`](Self::without_p) the world can
    /// stop and this goroutine's roots can be scanned meanwhile, but the P is kept for it, so a
    /// call that returns quickly takes it straight back; sysmon hands it to a waiting goroutine
    /// once the call has lasted 20 µs or more (10 ms if nobody waits). `f` cannot touch the heap.
    #[doc(alias = "entersyscall")]
    pub fn syscall<R>(&mut self, f: impl FnOnce() -> R) -> R {
        self.cx.syscall(f)
    }

    /// Roots this goroutine currently holds.
    pub fn root_count(&self) -> usize {
        // SAFETY: our own G, running.
        unsafe { self.cx.g().len() }
    }

    /// The id of the P this goroutine holds.
    pub fn p_id(&self) -> usize {
        self.cx.p_id()
    }

    /// This goroutine's id.
    pub fn g_id(&self) -> u64 {
        self.cx.g_id()
    }
}

/// The element count to allocate for a pointer array of `len` elements: `len` rounded up to
/// fill its size-class slot when the array is small and headerless (Go's `roundupsize` in
/// `growslice`), so the heap bits, written for the allocated length, cover every element
/// [`Mutator::array_len`] admits; `len` itself otherwise (header and large objects are scanned
/// up to the end of what `array_len` reports already).
fn array_capacity(len: usize) -> usize {
    match len.checked_mul(8).and_then(|size| classify(size, false)) {
        Some(SizeKind::Small { spc, header: false }) => spc.size_class().size() / 8,
        _ => len,
    }
}

/// Usable capacity of the object of `heap` that starts at `addr`, in bytes.
pub(crate) fn capacity(heap: &MHeap, addr: usize) -> usize {
    match heap.find_object(addr) {
        Some((s, _, base)) if s.is_large() => s.limit() - base,
        Some((s, _, base)) => s.elemsize() - (addr - base),
        None => 0, // zero-length objects alias `zerobase`, outside the heap
    }
}

/// The aligned word holding heap address `a`, as an atomic.
///
/// # Safety
/// - The word is part of a live pointer-free heap object, which is only ever accessed through
///   whole-word atomics (the module's memory model).
#[inline(always)]
unsafe fn heap_word<'a>(a: usize) -> &'a AtomicU64 {
    // SAFETY: the caller guarantees a live, word-accessed heap word; the address is aligned.
    unsafe { &*((a & !7) as *const AtomicU64) }
}

/// Copy `out.len()` bytes from heap address `src` into `out` with Relaxed whole-word loads.
///
/// # Safety
/// - `[src & !7, (src + out.len()).next_multiple_of(8))` lies inside one live pointer-free heap
///   object, whose memory is accessed only through whole-word atomics.
pub(crate) unsafe fn copy_from_heap(src: usize, out: &mut [u8]) {
    let mut done = 0;
    while done < out.len() {
        let a = src + done;
        let skip = a % 8;
        let n = (8 - skip).min(out.len() - done);
        // SAFETY: `a` is inside the range the caller vouches for.
        let w = unsafe { heap_word(a) }.load(Ordering::Relaxed).to_ne_bytes();
        out[done..done + n].copy_from_slice(&w[skip..skip + n]);
        done += n;
    }
}

/// Copy `data` to heap address `dst` with Relaxed whole-word stores; a word the range covers
/// only in part is updated by a compare-and-swap loop that keeps its other bytes.
///
/// # Safety
/// - As for [`copy_from_heap`], for `dst` and `data.len()`.
unsafe fn copy_to_heap(dst: usize, data: &[u8]) {
    let mut done = 0;
    while done < data.len() {
        let a = dst + done;
        let skip = a % 8;
        let n = (8 - skip).min(data.len() - done);
        // SAFETY: `a` is inside the range the caller vouches for.
        let cell = unsafe { heap_word(a) };
        if n == 8 {
            let w = u64::from_ne_bytes(data[done..done + 8].try_into().expect("8 bytes"));
            cell.store(w, Ordering::Relaxed);
        } else {
            // Relaxed: only this word's bytes matter, and the CAS makes the update atomic.
            let _ = cell.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                let mut w = old.to_ne_bytes();
                w[skip..skip + n].copy_from_slice(&data[done..done + n]);
                Some(u64::from_ne_bytes(w))
            });
        }
        done += n;
    }
}
