// A Ref cannot be a goroutine's result (which outlives the goroutine and crosses threads).
fn main() {
    let rt = gomem::Runtime::new(gomem::Config::default()).unwrap();
    let _ = rt.go(|m| {
        let b = m.alloc_bytes(8).unwrap();
        m.view().of(b)
    });
}
