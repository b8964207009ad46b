// A safepoint, a scope, giving up the P and a collection are refused while a Ref lives.
fn main() {
    let rt = gomem::Runtime::new(gomem::Config::default()).unwrap();
    rt.go(|m| {
        let b = m.alloc_bytes(8).unwrap();
        let r = m.view().of(b);
        m.safepoint();
        m.scope(|_| ());
        m.without_p(|| ());
        m.gc();
        r.addr()
    });
}
