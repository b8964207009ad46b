//! Borrowed, unrooted views for reading the heap: [`View`] and [`Ref`].
//!
//! A [`Local`] is a root: making one pushes its address onto the goroutine's root stack, so
//! that the object survives the safepoints that follow. Code that only reads a structure and
//! cannot reach a safepoint meanwhile (binary-trees' `check`, a map lookup) does not need that:
//! Go's compiled code holds such pointers in registers and stack slots that no one looks at
//! between two safepoints. [`Mutator::view`](crate::Mutator::view) gives the same thing
//! safely: a [`View<'v>`] that borrows the [`Mutator`](crate::Mutator) *shared* for `'v`, and
//! [`Ref<'v, T>`] handles that cost no root push and live no longer than that borrow. While any
//! `Ref` lives, the borrow checker refuses every `&mut self` method of the mutator (allocation,
//! `set`, `write`, `safepoint`, `without_p`, `scope`, `escape`, `gc`), and those are all the
//! ways this goroutine can reach a safepoint. A `Ref` that must outlive the view is rooted
//! explicitly with [`Mutator::root`](crate::Mutator::root).
//!
//! # Why an unrooted pointer stays valid until this goroutine's next safepoint
//!
//! Go's `mallocgc`, `gcStart` and `gcMarkTermination` rely on the same facts; here is where
//! gomem guarantees each of them.
//!
//! 1. **Only a sweep frees an object, and a sweep frees only what the last mark termination
//!    left unmarked.** Sweeping (the background sweeper, a P's lazy sweep in
//!    `MCentral::cache_span`, `Collector::sweep_one`) turns a span's mark bits into its
//!    allocation bits; mark termination sets the generation it sweeps. An object reachable at
//!    time `t` was either marked by the last mark termination before `t` or allocated after it
//!    (every P released its cached spans at that termination and refills only from swept spans),
//!    so that generation's sweep keeps it. Nothing else frees: the scavenger releases only free
//!    pages, and every heap item that could break this is `unsafe` (`docs/safety.md`).
//! 2. **The next mark termination needs this goroutine stopped at a safepoint.** Mark
//!    termination runs inside `World::stop_the_world` (`gc_mark_done` in
//!    `collector/src/cycle/phases.rs`), and so does mark start (`gc_start`): the runtime's
//!    world is the scheduler's `Sched::stop_the_world`, which returns only when no goroutine is
//!    `Running`. A goroutine that holds its P stops being `Running` only on its own thread, in
//!    `Sched::safepoint_locked` (reached from `GCtx::safepoint`, i.e. `Mutator::safepoint`,
//!    `scope`, `escape` and the allocation slow path), in `GCtx::without_p` (`Mutator::without_p`,
//!    `gc`, a parked assist) or when it exits (`scheduler-shim/src/sched.rs`, `g.rs`). The shim
//!    has no asynchronous preemption: no signal, no other thread, can take a `Running` goroutine
//!    off its P. Every one of those calls needs `&mut GCtx`, which only `&mut Mutator` reaches.
//!    So while a `View<'v>` borrows the mutator, no stop-the-world completes: **no cycle starts
//!    and none ends during a view**, and the GC phase (marking or not) is the same at its end as
//!    at its start. A stop requested meanwhile waits for the view to end (see "Keep views
//!    short").
//! 3. **This goroutine's roots are read only at its safepoints.** The concurrent root scan is a
//!    handshake (`World::scan_goroutine_roots`, `Sched::handshake`): a `Running` goroutine runs
//!    it itself at its next safepoint, and the caller runs it only for goroutines that are not
//!    `Running` (`scheduler-shim/src/handshake.rs`, step 3). Stopped-world visitors
//!    (`Stopped::for_each_goroutine_root`) run only with the world stopped (2). So the
//!    collector cannot tell a `Ref` from a `Local` that was pushed and popped again between two
//!    safepoints: every view is equivalent, for the collector, to the same reads done with
//!    `Mutator::get` in a scope that ends before the next safepoint, which the rooted API
//!    already allows.
//!
//! From 1 to 3, by induction. Let `R(t)` be the objects reachable at time `t` from every root
//! and every live `Ref` of every goroutine (Go's registers count as roots in the same way), and
//! `T0` the last mark termination. At `T0` the world is stopped, so no view exists (2) and
//! `R(T0)` is what the roots reach: all marked (the collector's correctness, which 3 says views
//! cannot disturb). After `T0`, `R` gains objects only by allocation (after `T0`: kept by the
//! sweep, 1); a load adds nothing (the target is reachable from the object it was loaded from,
//! which is in `R`), nor does a store (its value is a `Local` the storer holds, in `R`). So every
//! object in `R(t)` is kept by `T0`'s sweep, and no other sweep runs before the next mark
//! termination, which waits for this goroutine's next safepoint (2), after the view.
//!
//! **Another goroutine overwrites the slot a `Ref` was loaded from.** Not a problem for the
//! view: reachability at the load is what 1 needs, and the old target is kept by the sweep of
//! the current generation whatever happens to the slot afterwards. It matters when the `Ref` is
//! then *rooted* ([`Mutator::root`](crate::Mutator::root)) during mark and this goroutine's
//! roots were already scanned in this cycle: the overwrite happens through the deletion half of
//! the hybrid barrier (`collector/src/barrier.rs`), which shades the old target, so the marker
//! sees it although no scanned slot leads to it. This is exactly the case of `Mutator::get`
//! pushing a loaded pointer onto an already scanned root stack, and the same proof (Go's
//! proposal 17503) covers both.
//!
//! **A cycle is requested while the view lives.** Its stop-the-world (sweep termination) waits
//! for this goroutine's next safepoint, after the view; so does the root scan of a cycle already
//! marking, and so does mark termination. A view that begins while a cycle marks ends while it
//! still marks.
//!
//! # The handles cannot escape
//!
//! `Ref<'v, T>` and `View<'v>` carry `'v`, the shared borrow of the mutator, so neither outlives
//! it (a `Ref` cannot be returned from `scope`'s closure, kept in a variable across an
//! allocation, or stored anywhere longer-lived); both are neither `Send` nor `Sync`, so a `Ref`
//! cannot reach another thread, where it would outlive this goroutine's safepoints. Compile-fail
//! tests: `runtime/tests/ui_view/`.
//!
//! # Keep views short
//!
//! A view is a critical section in one respect: the world cannot stop until it ends, so a
//! stop-the-world (and every goroutine that parks for it) waits for the whole view. A long walk
//! should check [`View::preempt_requested`] (one relaxed load, as `scope`'s safepoint poll),
//! root what it still has to visit with [`Mutator::root`](crate::Mutator::root), end the view
//! and call [`Mutator::safepoint`](crate::Mutator::safepoint) (binary-trees' `check` in
//! `benches/src/workloads/binary_trees.rs` does this).

use crate::barrier::read_pointer;
use crate::globals::{Global, Globals};
use crate::mutator::{capacity, copy_from_heap, Local};
use crate::object::{Bytes, Field, Gc, PtrArray, Scalar};
use core::marker::PhantomData;
use gomem_allocator::MHeap;
use gomem_sched::Preempt;

/// An unrooted handle to a heap object of type `T`, valid while the view `'v` lives.
///
/// One word, `Copy`, and free to make: no root push. It is neither `Send` nor `Sync`, and it
/// cannot outlive the shared borrow of the [`Mutator`](crate::Mutator) its [`View`] holds, so
/// no safepoint of this goroutine happens while it exists (see the module docs). Root it with
/// [`Mutator::root`](crate::Mutator::root) to keep the object beyond the view.
pub struct Ref<'v, T> {
    addr: usize,
    _p: PhantomData<(&'v (), *const T)>,
}

crate::mutator::handle_impls!(Ref);

/// A read-only view of the heap for as long as it borrows the goroutine's
/// [`Mutator`](crate::Mutator) (from [`Mutator::view`](crate::Mutator::view)): pointer loads
/// give [`Ref`]s and push no roots.
///
/// `Copy` (three words); neither `Send` nor `Sync`.
#[derive(Clone, Copy)]
pub struct View<'v> {
    heap: &'v MHeap,
    globals: &'v Globals,
    preempt: Preempt<'v>,
    _not_send: PhantomData<*const ()>,
}

impl<'v> View<'v> {
    pub(crate) fn new(heap: &'v MHeap, globals: &'v Globals, preempt: Preempt<'v>) -> View<'v> {
        View { heap, globals, preempt, _not_send: PhantomData }
    }

    #[inline(always)]
    fn make<T>(addr: usize) -> Ref<'v, T> {
        Ref { addr, _p: PhantomData }
    }

    /// The object a [`Local`] names, as a `Ref` of this view (no root push; the `Local` stays
    /// rooted as before).
    #[inline(always)]
    pub fn of<T>(&self, l: Local<'_, T>) -> Ref<'v, T> {
        Self::make(l.addr())
    }

    /// Load the pointer in field `f` of `obj`; `None` for nil. No root is pushed.
    #[inline(always)]
    pub fn get<O, T>(&self, obj: Ref<'v, O>, f: Field<O, Gc<T>>) -> Option<Ref<'v, T>> {
        // SAFETY: `obj` is a live object of type O (a `Ref` of this view: module docs, 1-2),
        // and `f` is one of O's pointer fields (Field<O, Gc<T>> is only made by gc_object! for
        // such a field).
        let v = unsafe { read_pointer(obj.addr + f.offset()) };
        (v != 0).then(|| Self::make(v))
    }

    /// Read scalar field `f` of `obj`.
    #[inline(always)]
    pub fn read<O, V: Scalar>(&self, obj: Ref<'v, O>, f: Field<O, V>) -> V {
        // SAFETY: `obj` is live (as in `get`) and `f` is a field of type V inside it, aligned
        // and accessed only as a V-sized atomic (`Mutator::read`'s argument).
        unsafe { V::load(obj.addr + f.offset()) }
    }

    /// Number of elements of a pointer array ([`Mutator::array_len`](crate::Mutator::array_len)).
    pub fn array_len<T>(&self, a: Ref<'v, PtrArray<T>>) -> usize {
        capacity(self.heap, a.addr) / 8
    }

    /// Element `i` of a pointer array; panics when out of bounds. No root is pushed.
    pub fn array_get<T>(&self, a: Ref<'v, PtrArray<T>>, i: usize) -> Option<Ref<'v, T>> {
        assert!(i < self.array_len(a), "index {i} out of bounds");
        // SAFETY: in bounds of a live pointer array.
        let v = unsafe { read_pointer(a.addr + 8 * i) };
        (v != 0).then(|| Self::make(v))
    }

    /// Length of a byte buffer ([`Mutator::bytes_len`](crate::Mutator::bytes_len)).
    pub fn bytes_len(&self, b: Ref<'v, Bytes>) -> usize {
        capacity(self.heap, b.addr)
    }

    /// Copy bytes out of a buffer at `offset`; panics when out of bounds.
    pub fn read_bytes(&self, b: Ref<'v, Bytes>, offset: usize, out: &mut [u8]) {
        let len = self.bytes_len(b);
        assert!(offset.checked_add(out.len()).is_some_and(|e| e <= len), "range out of bounds");
        // SAFETY: the range lies inside the live buffer, which covers whole aligned words.
        unsafe { copy_from_heap(b.addr + offset, out) };
    }

    /// Load a global root; `None` for nil. No root is pushed.
    ///
    /// Panics when `g` was registered with another runtime.
    pub fn global<T>(&self, g: Global<T>) -> Option<Ref<'v, T>> {
        let slot = g.slot_in(self.globals);
        // SAFETY: `slot` is a slot of this runtime's globals (checked), which outlive the
        // goroutine (`Mutator::global`).
        let v = unsafe { read_pointer(slot) };
        (v != 0).then(|| Self::make(v))
    }

    /// True when a stop-the-world or a root scan is waiting for this goroutine (one relaxed
    /// load, Go's `gp.preempt`): a long walk should then root what it still needs
    /// ([`Mutator::root`](crate::Mutator::root)), end the view and call
    /// [`Mutator::safepoint`](crate::Mutator::safepoint). A stale answer only delays the stop.
    #[inline(always)]
    pub fn preempt_requested(&self) -> bool {
        self.preempt.requested()
    }
}
