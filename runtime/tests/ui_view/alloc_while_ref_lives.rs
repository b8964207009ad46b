// Allocating can reach a safepoint (the refill's poll, an assist): refused while a Ref lives.
fn main() {
    let rt = gomem::Runtime::new(gomem::Config::default()).unwrap();
    rt.go(|m| {
        let a = m.alloc_array::<gomem::Bytes>(4).unwrap();
        let v = m.view();
        let r = v.of(a);
        let _b = m.alloc_bytes(8).unwrap();
        v.array_len(r)
    });
}
