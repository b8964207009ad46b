// S6: gc_object! owns the layout. A `repr` would misplace `Gc` fields (packed) or over-align
// the type (align(16)) past what heap slots and header objects guarantee.
use gomem::{gc_object, Gc};

gc_object! {
    #[repr(packed)]
    pub struct Packed {
        pub tag: u8,
        // At offset 1: no mask bit (offset / 8) describes it.
        pub next: Gc<Packed>,
        pub a: u32,
        pub b: u16,
        pub c: u8,
        // At offset 16, so the pointer-bearing prefix still looks aligned.
        pub last: Gc<Packed>,
    }
}

gc_object! {
    #[repr(align(16))]
    pub struct Aligned {
        pub next: Gc<Aligned>,
    }
}

gc_object! {
    #[cfg_attr(all(), repr(packed))]
    pub struct Sneaky {
        pub tag: u8,
        pub next: Gc<Sneaky>,
    }
}

fn main() {}
