// A Ref kept in a longer-lived variable still holds its view's borrow: the allocation after the
// view's block is refused while the Ref is used later.
fn main() {
    let rt = gomem::Runtime::new(gomem::Config::default()).unwrap();
    rt.go(|m| {
        let a = m.alloc_array::<gomem::Bytes>(4).unwrap();
        let kept;
        {
            let v = m.view();
            kept = v.array_get(v.of(a), 0);
        }
        m.alloc_bytes(8).unwrap();
        kept.is_some()
    });
}
