//! Allocation errors. Failure is an error, never undefined behaviour: a size that overflows, a
//! request larger than the address space, or an OS that refuses memory.

use crate::os::OsError;
use core::fmt;

/// Why an allocation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllocError {
    /// `count * size` overflowed, or the size cannot be expressed in pages.
    SizeOverflow {
        /// Size of one element.
        size: usize,
        /// Number of elements requested.
        count: usize,
    },
    /// The request is larger than the address space the heap can ever map.
    TooLarge {
        /// Bytes requested.
        bytes: usize,
    },
    /// The operating system refused memory.
    Os(OsError),
}

impl fmt::Display for AllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllocError::SizeOverflow { size, count } => {
                write!(f, "allocation size overflows: {count} elements of {size} bytes")
            }
            AllocError::TooLarge { bytes } => {
                write!(f, "allocation of {bytes} bytes exceeds the address space")
            }
            AllocError::Os(e) => write!(f, "out of memory: {e}"),
        }
    }
}

impl std::error::Error for AllocError {}

impl From<OsError> for AllocError {
    fn from(e: OsError) -> Self {
        AllocError::Os(e)
    }
}
