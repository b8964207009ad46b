// The collector frees whatever a `World` does not report: implementing one is a promise, so
// a safe `impl` must not compile.
use gomem_collector::world::{Stopped, World};

struct NoRoots;

impl World for NoRoots {
    fn stop_the_world(
        &self,
        _reason: &'static str,
        _f: &mut dyn FnMut(&mut dyn Stopped),
    ) -> std::time::Duration {
        std::time::Duration::ZERO
    }
    fn scan_goroutine_roots(&self, _f: &(dyn Fn(usize) + Sync)) {}
    fn scan_global_roots(&self, _f: &mut dyn FnMut(usize)) {}
    fn gomaxprocs(&self) -> usize {
        1
    }
}

fn main() {}
