// A Ref, and a View, are neither Send nor Sync: no other thread can use them.
fn main() {
    let rt = gomem::Runtime::new(gomem::Config::default()).unwrap();
    rt.go(|m| {
        let b = m.alloc_bytes(8).unwrap();
        let v = m.view();
        let r = v.of(b);
        std::thread::scope(|s| {
            s.spawn(move || r.addr());
            s.spawn(|| v.bytes_len(r));
        });
    });
}
