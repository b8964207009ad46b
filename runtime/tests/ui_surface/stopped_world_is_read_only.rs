// Swapping two runtimes' P states would make goroutines of one allocate into the other's heap,
// whose collector does not scan their roots: a stopped world shows the Ps read-only.
use gomem::{Config, Runtime};

fn main() {
    let a = Runtime::new(Config::default().gomaxprocs(1)).unwrap();
    let b = Runtime::new(Config::default().gomaxprocs(1)).unwrap();
    let mut wa = a.stop_the_world("a");
    let mut wb = b.stop_the_world("b");
    wa.each_p(|_, pa| wb.each_p(|_, pb| std::mem::swap(pa, pb)));
}
