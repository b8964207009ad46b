//! Typed heap objects: the [`gc_object!`](crate::gc_object) macro, pointer fields ([`Gc`]),
//! scalar fields ([`Scalar`]) and field handles ([`Field`]).
//!
//! A heap type is a `#[repr(C)]` struct whose fields are either `Gc<T>` (a pointer to another
//! heap object, nullable, Go's `*T`) or a [`Scalar`] (plain data: integers up to 64 bits,
//! floats, `bool`). The macro derives the type's [`TypeDesc`] at compile time with `offset_of!`:
//! one mask bit per `Gc` field, nothing hand-counted. A field of any other type (a raw pointer, a
//! `Box`, a reference, a `u128`) does not compile, because it implements neither kind, so a
//! wrong descriptor cannot be written by accident; and the descriptor is checked by
//! [`TypeDesc::new`] at compile time as well.
//!
//! # Invariants (what makes a descriptor right)
//!
//! - The macro alone decides the layout: it adds `#[repr(C)]` and rejects every attribute that
//!   could change it (any `repr`, `cfg_attr`, attribute macros); only doc comments, `derive` and
//!   lint attributes pass. A const check then proves every `Gc` field 8-aligned (one mask bit per
//!   word) and the type's alignment at most 8 (heap slots are 8-aligned, and a header object's
//!   data starts at slot + 8).
//! - [`FieldKind`] and [`Scalar`] are sealed: which words are pointers is decided here, and every
//!   scalar is one with an atomic of its size, so the mutator can access it atomically (see
//!   [`crate::mutator`], "The memory model").
//! - [`GcType`] is an `unsafe` trait: a hand-written impl is the only way around the macro.
//!
//! ```
//! gomem::gc_object! {
//!     /// A binary tree node.
//!     pub struct Node {
//!         pub left: gomem::Gc<Node>,
//!         pub right: gomem::Gc<Node>,
//!         pub item: i64,
//!     }
//! }
//! use gomem::GcType;
//! assert_eq!(Node::DESC.size, 24);
//! assert_eq!(Node::DESC.ptr_bytes, 16);
//! assert_eq!(Node::DESC.gcmask, &[0b11]);
//! ```
//!
//! Fields are reached through the [`Mutator`](crate::Mutator), never by dereferencing: pointer
//! stores must pass the write barrier and pointer loads must root what they load. The macro
//! makes one [`Field`] constant per field, named after it (`Node::left`).

use core::marker::PhantomData;
pub use gomem_allocator::TypeDesc;

/// A pointer field of a heap object: one word, the address of a `T` or 0 for nil.
///
/// Only ever stored inside heap objects; read and written through
/// [`Mutator::get`](crate::Mutator::get) / [`Mutator::set`](crate::Mutator::set).
#[repr(transparent)]
pub struct Gc<T>(usize, PhantomData<*const T>);

/// Plain data allowed as a field of a heap object: the integers up to 64 bits, `usize`,
/// `isize`, `f32`, `f64` and `bool`.
///
/// Sealed: the list is closed, because the [`Mutator`](crate::Mutator) reads and writes scalar
/// fields with relaxed atomic loads and stores (so that goroutines racing on a field are a
/// logic bug, never undefined behaviour; see the [`mutator`](crate::mutator) docs), and only
/// these types have atomics. 128-bit integers are left out on purpose: they have no stable
/// atomic and are 16-aligned, which the 8-aligned heap slots (and the data of header objects, at
/// slot + 8) cannot promise. Store one as two `u64` fields.
///
/// Every scalar holds no pointer the collector must see, and all-zero bytes are a valid value
/// (a fresh object is all zeros).
pub trait Scalar: Copy + Send + Sync + 'static + sealed::Sealed + sealed::Atomic {}

/// The sealing traits: public names in a private module, so no other crate can implement them.
pub(crate) mod sealed {
    /// Marks the types [`FieldKind`](super::FieldKind) is implemented for.
    pub trait Sealed {}

    /// How a scalar is loaded and stored in the heap: a relaxed atomic access of its own size.
    pub trait Atomic: Sized {
        /// Relaxed atomic load of the value at `addr`.
        ///
        /// # Safety
        /// - `addr` is the address of a live, aligned field of this type, which is only ever
        ///   accessed atomically with this type's size.
        unsafe fn load(addr: usize) -> Self;
        /// Relaxed atomic store of `v` at `addr`.
        ///
        /// # Safety
        /// - As for [`load`](Atomic::load).
        unsafe fn store(addr: usize, v: Self);
    }
}

/// `$t` is stored as the atomic `$a` holding `$bits`, converted with `$to` and `$from`.
macro_rules! scalars {
    ($($t:ty => $a:ident, $to:expr, $from:expr;)*) => { $(
        impl sealed::Sealed for $t {}
        impl sealed::Atomic for $t {
            #[inline(always)]
            unsafe fn load(addr: usize) -> $t {
                // SAFETY: the caller guarantees a live, aligned field of this type; `$a` has
                // the size and alignment of `$t`.
                let a = unsafe { &*(addr as *const crate::sync::$a) };
                ($from)(a.load(crate::sync::Ordering::Relaxed))
            }
            #[inline(always)]
            unsafe fn store(addr: usize, v: $t) {
                // SAFETY: as in `load`.
                let a = unsafe { &*(addr as *const crate::sync::$a) };
                a.store(($to)(v), crate::sync::Ordering::Relaxed)
            }
        }
        impl Scalar for $t {}
    )* };
}
scalars! {
    u8 => AtomicU8, |v| v, |v| v;
    u16 => AtomicU16, |v| v, |v| v;
    u32 => AtomicU32, |v| v, |v| v;
    u64 => AtomicU64, |v| v, |v| v;
    usize => AtomicUsize, |v| v, |v| v;
    i8 => AtomicU8, |v: i8| v as u8, |v: u8| v as i8;
    i16 => AtomicU16, |v: i16| v as u16, |v: u16| v as i16;
    i32 => AtomicU32, |v: i32| v as u32, |v: u32| v as i32;
    i64 => AtomicU64, |v: i64| v as u64, |v: u64| v as i64;
    isize => AtomicUsize, |v: isize| v as usize, |v: usize| v as isize;
    f32 => AtomicU32, f32::to_bits, f32::from_bits;
    f64 => AtomicU64, f64::to_bits, f64::from_bits;
    bool => AtomicBool, |v| v, |v| v;
}

/// Classifies the fields the macro accepts. Implemented for [`Gc`] (a pointer) and for every
/// [`Scalar`] (not a pointer); other field types fail to compile. Sealed: the collector's view
/// of an object (its mask) is only as right as this classification, so no other crate can add
/// a field kind.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a field of a `gc_object!` type",
    label = "not a `Gc<T>` or a `Scalar`",
    note = "fields are `Gc<T>` (a heap pointer) or a scalar: u8, u16, u32, u64, usize, i8, \
            i16, i32, i64, isize, f32, f64, bool (store a 128-bit integer as two u64 fields)"
)]
pub trait FieldKind: sealed::Sealed {
    /// Whether the field is a heap pointer.
    const IS_PTR: bool;
}
impl<T> sealed::Sealed for Gc<T> {}
impl<T> FieldKind for Gc<T> {
    const IS_PTR: bool = true;
}
impl<S: Scalar> FieldKind for S {
    const IS_PTR: bool = false;
}

/// A heap object type: a `#[repr(C)]` struct with a descriptor derived by
/// [`gc_object!`](crate::gc_object).
///
/// The macro is the only safe way to get one: implementing the trait by hand takes an
/// `unsafe impl`, and a wrong descriptor lets the collector free what the object still points
/// to.
///
/// # Safety
/// - `DESC` describes `Self` exactly: its size and a mask bit set for precisely the words that
///   hold `Gc` fields, every `Gc` field at an offset that is a multiple of 8.
/// - `align_of::<Self>() <= 8` (heap slots are 8-aligned, header objects' data at slot + 8).
/// - Every `Field<Self, V>` in existence names a field of type `V` at its offset.
pub unsafe trait GcType: Sized + 'static {
    /// The layout the allocator and the collector use.
    const DESC: &'static TypeDesc;
}

/// A field of heap type `O` holding a `V` (a [`Gc`] or a [`Scalar`]), at a fixed offset.
pub struct Field<O, V> {
    offset: usize,
    _p: PhantomData<fn(O) -> V>,
}

impl<O, V> Clone for Field<O, V> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<O, V> Copy for Field<O, V> {}

impl<O, V> Field<O, V> {
    /// A field at `offset` bytes.
    ///
    /// # Safety
    /// - `O` has a field of type `V` at `offset` (the macro passes `offset_of!`).
    #[doc(hidden)]
    pub const unsafe fn new_unchecked(offset: usize) -> Self {
        Field { offset, _p: PhantomData }
    }

    /// Byte offset of the field in the object.
    pub const fn offset(self) -> usize {
        self.offset
    }
}

/// Build the mask of a type from `(offset, is_ptr)` pairs (used by the macro).
#[doc(hidden)]
pub const fn build_mask<const N: usize>(fields: &[(usize, bool)]) -> [u64; N] {
    let mut m = [0u64; N];
    let mut i = 0;
    while i < fields.len() {
        if fields[i].1 {
            let w = fields[i].0 / 8;
            m[w / 64] |= 1 << (w % 64);
        }
        i += 1;
    }
    m
}

/// The pointer-bearing prefix length for `(offset, is_ptr)` pairs (used by the macro).
#[doc(hidden)]
pub const fn ptr_bytes(fields: &[(usize, bool)]) -> usize {
    let mut end = 0;
    let mut i = 0;
    while i < fields.len() {
        if fields[i].1 && fields[i].0 + 8 > end {
            end = fields[i].0 + 8;
        }
        i += 1;
    }
    end
}

/// Reject, at compile time, a layout the collector cannot describe (used by the macro): a `Gc`
/// field at an offset that is not a multiple of 8 (the mask has one bit per word), or an
/// alignment above 8 (heap slots are only 8-aligned, and header objects' data starts at
/// slot + 8). With `#[repr(C)]` forced and the scalar list closed neither can happen today;
/// the check keeps it so if either changes.
#[doc(hidden)]
pub const fn check_layout(fields: &[(usize, bool)], align: usize) {
    assert!(align <= 8, "gc_object!: a heap type's alignment must be at most 8 bytes");
    let mut i = 0;
    while i < fields.len() {
        assert!(
            !fields[i].1 || fields[i].0 % 8 == 0,
            "gc_object!: every Gc field must sit at an offset that is a multiple of 8"
        );
        i += 1;
    }
}

/// Mask words a type of `size` bytes needs (at least one).
#[doc(hidden)]
pub const fn mask_words(size: usize) -> usize {
    let w = size.div_ceil(8).div_ceil(64);
    if w == 0 {
        1
    } else {
        w
    }
}

/// Declare a heap object type: a `#[repr(C)]` struct with its [`GcType`] descriptor computed at
/// compile time and one [`Field`] constant per field. Fields must be [`Gc<T>`](Gc) or
/// [`Scalar`]s. See the [module docs](crate::object).
///
/// The macro owns the layout: it adds `#[repr(C)]` itself and accepts on the struct and its
/// fields only doc comments, `derive` and lint attributes (`allow`, `expect`, `warn`, `deny`,
/// `forbid`). Any other attribute (`repr(packed)`, `repr(align(16))`, a `cfg_attr` that could
/// add one, an attribute macro that could rewrite the struct) is a compile error, and so is a
/// layout the mask cannot describe (see [`GcType`]'s safety contract).
#[macro_export]
macro_rules! gc_object {
    (
        $(#[$($meta:tt)*])*
        $vis:vis struct $name:ident {
            $( $(#[$($fmeta:tt)*])* $fvis:vis $field:ident : $fty:ty ),* $(,)?
        }
    ) => {
        $( $crate::__gc_object_attr! { $($meta)* } )*
        $( $( $crate::__gc_object_attr! { $($fmeta)* } )* )*

        $(#[$($meta)*])*
        #[repr(C)]
        $vis struct $name {
            $( $(#[$($fmeta)*])* $fvis $field: $fty ),*
        }

        const _: () = {
            const FIELDS: &[(usize, bool)] = &[
                $( (::core::mem::offset_of!($name, $field), <$fty as $crate::object::FieldKind>::IS_PTR) ),*
            ];
            const _: () = $crate::object::check_layout(FIELDS, ::core::mem::align_of::<$name>());
            const WORDS: usize = $crate::object::mask_words(::core::mem::size_of::<$name>());
            static MASK: [u64; WORDS] = $crate::object::build_mask::<WORDS>(FIELDS);
            static DESC: $crate::object::TypeDesc = $crate::object::TypeDesc::new(
                ::core::mem::size_of::<$name>(),
                $crate::object::ptr_bytes(FIELDS),
                &MASK,
                ::core::stringify!($name),
            );
            // SAFETY: DESC is derived from the struct's own layout by offset_of!, one mask bit
            // per field whose type is Gc<_>; the struct is repr(C) with no other repr (the
            // attribute filter above), and check_layout proved the offsets and alignment.
            unsafe impl $crate::object::GcType for $name {
                const DESC: &'static $crate::object::TypeDesc = &DESC;
            }
        };

        #[allow(non_upper_case_globals, dead_code)]
        impl $name {
            $(
                /// Field handle for use with the `Mutator`.
                $fvis const $field: $crate::object::Field<$name, $fty> =
                    // SAFETY: offset_of! gives this field's offset in this repr(C) struct.
                    unsafe { $crate::object::Field::new_unchecked(::core::mem::offset_of!($name, $field)) };
            )*
        }
    };
}

/// The attribute filter of [`gc_object!`]: expands to nothing for an attribute that cannot
/// change the struct's layout, to a compile error for any other.
#[doc(hidden)]
#[macro_export]
macro_rules! __gc_object_attr {
    (doc $($t:tt)*) => {};
    (derive $($t:tt)*) => {};
    (allow $($t:tt)*) => {};
    (expect $($t:tt)*) => {};
    (warn $($t:tt)*) => {};
    (deny $($t:tt)*) => {};
    (forbid $($t:tt)*) => {};
    ($($t:tt)*) => {
        ::core::compile_error!(::core::concat!(
            "gc_object! does not accept `#[",
            ::core::stringify!($($t)*),
            "]`: the macro controls the layout (it adds #[repr(C)] itself); only doc comments, \
             derive and lint attributes are allowed"
        ));
    };
}

/// A pointer-free byte buffer on the heap (Go's `[]byte` backing array).
pub struct Bytes(());

/// An array of pointers to `T` on the heap (Go's `[]*T` backing array).
pub struct PtrArray<T>(PhantomData<*const T>);
