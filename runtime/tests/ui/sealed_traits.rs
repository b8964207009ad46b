// S9: `FieldKind` and `Scalar` are sealed: another crate cannot declare a field kind (which
// would let it choose whether the collector sees a word as a pointer) or a scalar (which the
// mutator would access with an atomic of the wrong size).
use gomem::object::FieldKind;
use gomem::Scalar;

#[derive(Clone, Copy)]
pub struct Handle(usize);

impl FieldKind for Handle {
    const IS_PTR: bool = false;
}

#[derive(Clone, Copy)]
pub struct Pair(u64, u64);

impl Scalar for Pair {}

fn main() {}
