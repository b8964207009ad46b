//! Typed heap objects: the [`gc_object!`](crate::gc_object) macro, pointer fields ([`Gc`]),
//! scalar fields ([`Scalar`]) and field handles ([`Field`]).
//!
//! A heap type is a `#[repr(C)]` struct whose fields are either `Gc<T>` (a pointer to another
//! heap object, nullable, Go's `*T`) or a [`Scalar`] (plain data: integers, floats, `bool`).
//! The macro derives the type's [`TypeDesc`] at compile time with `offset_of!`: one mask bit per
//! `Gc` field, nothing hand-counted. A field of any other type (a raw pointer, a `Box`, a
//! reference) does not compile, because it implements neither kind, so a wrong descriptor
//! cannot be written by accident; and the descriptor is checked by [`TypeDesc::new`] at compile
//! time as well.
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

/// Plain data allowed as a field of a heap object: no pointers into the heap, any bit pattern
/// valid... for the zeroed state at least (a fresh object is all zeros).
///
/// # Safety
/// - The type holds no pointer the collector must see, and all-zero bytes are a valid value.
pub unsafe trait Scalar: Copy + 'static {}

macro_rules! scalars {
    ($($t:ty),*) => { $(
        // SAFETY: plain numbers: no pointers, zero is a valid value.
        unsafe impl Scalar for $t {}
    )* };
}
scalars!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64, bool);

/// Classifies the fields the macro accepts. Implemented for [`Gc`] (a pointer) and for every
/// [`Scalar`] (not a pointer); other field types fail to compile.
pub trait FieldKind {
    /// Whether the field is a heap pointer.
    const IS_PTR: bool;
}
impl<T> FieldKind for Gc<T> {
    const IS_PTR: bool = true;
}
impl<S: Scalar> FieldKind for S {
    const IS_PTR: bool = false;
}

/// A heap object type: a `#[repr(C)]` struct with a descriptor derived by
/// [`gc_object!`](crate::gc_object).
///
/// # Safety
/// - `DESC` describes `Self` exactly: its size and a mask bit set for precisely the words that
///   hold `Gc` fields. Implement it only through the macro.
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
#[macro_export]
macro_rules! gc_object {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$fmeta:meta])* $fvis:vis $field:ident : $fty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[repr(C)]
        $vis struct $name {
            $( $(#[$fmeta])* $fvis $field: $fty ),*
        }

        const _: () = {
            const FIELDS: &[(usize, bool)] = &[
                $( (::core::mem::offset_of!($name, $field), <$fty as $crate::object::FieldKind>::IS_PTR) ),*
            ];
            const WORDS: usize = $crate::object::mask_words(::core::mem::size_of::<$name>());
            static MASK: [u64; WORDS] = $crate::object::build_mask::<WORDS>(FIELDS);
            static DESC: $crate::object::TypeDesc = $crate::object::TypeDesc::new(
                ::core::mem::size_of::<$name>(),
                $crate::object::ptr_bytes(FIELDS),
                &MASK,
                ::core::stringify!($name),
            );
            // SAFETY: DESC is derived from the struct's own layout by offset_of!, one mask bit
            // per field whose type is Gc<_>.
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

/// A pointer-free byte buffer on the heap (Go's `[]byte` backing array).
pub struct Bytes(());

/// An array of pointers to `T` on the heap (Go's `[]*T` backing array).
pub struct PtrArray<T>(PhantomData<*const T>);
