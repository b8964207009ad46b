// S6, S9: only `Gc<T>` and the sealed scalars are fields. A `u128` is 16-aligned (heap slots
// and header objects' data are only 8-aligned) and has no stable atomic; a raw pointer is a
// pointer the collector would not see.
use gomem::{gc_object, Gc};

gc_object! {
    pub struct Wide {
        pub next: Gc<Wide>,
        pub big: u128,
    }
}

gc_object! {
    pub struct Raw {
        pub p: *const u8,
    }
}

fn main() {}
