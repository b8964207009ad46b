// A Ref cannot be returned out of the scope whose mutator its view borrows.
fn main() {
    let rt = gomem::Runtime::new(gomem::Config::default()).unwrap();
    rt.go(|m| {
        let b = m.alloc_bytes(8).unwrap();
        let r = m.scope(|m| m.view().of(b));
        r.addr()
    });
}
