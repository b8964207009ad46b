//! Type descriptors: what the allocator and collector know about an object's layout
//! (the part of Go's `abi.Type` that `mallocgc` and the scanner read).
//!
//! A [`TypeDesc`] gives an object's size, the length of its pointer-bearing prefix and one bit
//! per 8-byte word of that prefix saying whether the word holds a heap pointer. It is handed to
//! the allocator at allocation time and is where every later scan gets its answers: the
//! collector never guesses whether a word is a pointer.
//!
//! Descriptors are `'static` (made once per type, in a `static`), because headers and large spans
//! store a pointer to them that must outlive every object of the type. The runtime crate builds
//! them at compile time from `#[repr(C)]` structs with `offset_of!`; [`TypeDesc::new`] checks
//! the description and refuses an inconsistent one at compile time when used in a `static`.

use crate::consts::PTR_SIZE;

/// Layout of a heap object type (Go's `abi.Type`: `Size_`, `PtrBytes`, `GCData`).
#[doc(alias = "_type")]
#[derive(Debug)]
pub struct TypeDesc {
    /// Size of one value in bytes (Go's `Size_`). A multiple of 8 when the type has pointers.
    pub size: usize,
    /// Length of the prefix of the value that can contain pointers (Go's `PtrBytes`): the
    /// offset of the last pointer word plus 8, or 0 for a pointer-free type.
    pub ptr_bytes: usize,
    /// One bit per word of the prefix, least significant bit first: bit `i` of word `i / 64`
    /// set means the word at byte offset `8 * i` holds a pointer (Go's `GCData` mask).
    pub gcmask: &'static [u64],
    /// A human-readable name for diagnostics.
    pub name: &'static str,
}

/// Why a type description was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TypeDescError {
    /// `ptr_bytes` exceeds `size`, or is not a multiple of 8.
    BadPtrBytes,
    /// A type with pointers must have a size that is a multiple of 8.
    UnalignedSize,
    /// The mask is shorter than `ptr_bytes / 8` bits, or has bits set beyond it.
    BadMask,
    /// The last word of the pointer prefix is not a pointer.
    PrefixNotTight,
}

impl TypeDesc {
    /// A pointer-free type of `size` bytes.
    pub const fn noscan(size: usize, name: &'static str) -> TypeDesc {
        TypeDesc { size, ptr_bytes: 0, gcmask: &[], name }
    }

    /// A checked description. Panics (a compile error in a `static`) when inconsistent; see
    /// [`TypeDesc::check`].
    pub const fn new(
        size: usize,
        ptr_bytes: usize,
        gcmask: &'static [u64],
        name: &'static str,
    ) -> TypeDesc {
        let t = TypeDesc { size, ptr_bytes, gcmask, name };
        match t.check() {
            Ok(()) => t,
            Err(TypeDescError::BadPtrBytes) => panic!("TypeDesc: ptr_bytes > size or unaligned"),
            Err(TypeDescError::UnalignedSize) => panic!("TypeDesc: pointerful size not 8-aligned"),
            Err(TypeDescError::BadMask) => panic!("TypeDesc: mask does not match ptr_bytes"),
            Err(TypeDescError::PrefixNotTight) => {
                panic!("TypeDesc: last prefix word not a pointer")
            }
        }
    }

    /// Check the invariants: `ptr_bytes <= size`, both word multiples when pointerful, the mask
    /// covers exactly `ptr_bytes / 8` words and its last covered bit is set.
    pub const fn check(&self) -> Result<(), TypeDescError> {
        if self.ptr_bytes > self.size || self.ptr_bytes % PTR_SIZE != 0 {
            return Err(TypeDescError::BadPtrBytes);
        }
        if self.ptr_bytes == 0 {
            return Ok(());
        }
        if self.size % PTR_SIZE != 0 {
            return Err(TypeDescError::UnalignedSize);
        }
        let words = self.ptr_bytes / PTR_SIZE;
        if self.gcmask.len() < words.div_ceil(64) {
            return Err(TypeDescError::BadMask);
        }
        // No bits beyond the prefix.
        let mut i = 0;
        while i < self.gcmask.len() {
            let lo = i * 64;
            let w = self.gcmask[i];
            if lo >= words {
                if w != 0 {
                    return Err(TypeDescError::BadMask);
                }
            } else if words - lo < 64 && (w >> (words - lo)) != 0 {
                return Err(TypeDescError::BadMask);
            }
            i += 1;
        }
        let last = words - 1;
        if (self.gcmask[last / 64] >> (last % 64)) & 1 == 0 {
            return Err(TypeDescError::PrefixNotTight);
        }
        Ok(())
    }

    /// Whether values of this type hold no pointers (they go to noscan spans).
    #[inline(always)]
    pub const fn is_noscan(&self) -> bool {
        self.ptr_bytes == 0
    }

    /// Bytes the collector may have to scan in `size` bytes laid out as values of this type
    /// (Go's `heapSetType` scan size): every value but the last whole, then the last value's
    /// pointer prefix. What an allocation adds to `scanAlloc`.
    #[inline(always)]
    pub const fn scan_size(&self, size: usize) -> usize {
        size.saturating_sub(self.size) + self.ptr_bytes
    }

    /// Whether word `i` of a value (byte offset `8 * i`) holds a pointer.
    #[inline(always)]
    pub fn is_ptr_word(&self, i: usize) -> bool {
        i * PTR_SIZE < self.ptr_bytes && (self.gcmask[i / 64] >> (i % 64)) & 1 != 0
    }

    /// The mask of a value as one 64-bit word, for types of at most 64 words (512 bytes).
    #[inline(always)]
    pub(crate) fn small_mask(&self) -> u64 {
        if self.ptr_bytes == 0 {
            0
        } else {
            self.gcmask[0]
        }
    }
}

/// The descriptor of a single pointer word (Go's `*T` / `unsafe.Pointer` as an element).
pub static POINTER: TypeDesc = TypeDesc::new(8, 8, &[1], "pointer");

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn check_accepts_good_and_rejects_bad() {
        assert_eq!(TypeDesc::noscan(13, "b").check(), Ok(()));
        let ok = TypeDesc { size: 24, ptr_bytes: 16, gcmask: &[0b10], name: "t" };
        assert_eq!(ok.check(), Ok(()));
        let loose = TypeDesc { size: 24, ptr_bytes: 24, gcmask: &[0b010], name: "t" };
        assert_eq!(loose.check(), Err(TypeDescError::PrefixNotTight));
        let extra = TypeDesc { size: 24, ptr_bytes: 8, gcmask: &[0b11], name: "t" };
        assert_eq!(extra.check(), Err(TypeDescError::BadMask));
        let big = TypeDesc { size: 8, ptr_bytes: 16, gcmask: &[0b11], name: "t" };
        assert_eq!(big.check(), Err(TypeDescError::BadPtrBytes));
        let short = TypeDesc { size: 1024, ptr_bytes: 1024, gcmask: &[1], name: "t" };
        assert_eq!(short.check(), Err(TypeDescError::BadMask));
    }

    #[test]
    fn ptr_words() {
        static T: TypeDesc = TypeDesc::new(32, 24, &[0b101], "t");
        assert!(T.is_ptr_word(0));
        assert!(!T.is_ptr_word(1));
        assert!(T.is_ptr_word(2));
        assert!(!T.is_ptr_word(3));
        assert!(!T.is_noscan());
    }
}
