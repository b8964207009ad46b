// A pointer store needs the P (its barrier buffer): refused while a Ref lives.
fn main() {
    let rt = gomem::Runtime::new(gomem::Config::default()).unwrap();
    rt.go(|m| {
        let a = m.alloc_array::<gomem::Bytes>(4).unwrap();
        let v = m.view();
        let first = v.array_get(v.of(a), 0);
        m.array_set(a, 0, None);
        first.is_some()
    });
}
