// alloc is the Go twin of `gomem run alloc`: -count objects of -size bytes, shared among the
// goroutines, none kept alive: make([]byte, size), or make([]*byte, ceil(size/8)) with
// -pointers. The check value is count * size.
package main

import (
	"flag"
	"fmt"
	"sync"

	"gomem.example/twins/internal/harness"
)

// Sinks: each goroutine stores its latest object here, so the compiler must heap-allocate it
// (as gomem does); the previous one becomes garbage at once.
var (
	byteSinks [][]byte
	ptrSinks  [][]*byte
)

func main() {
	var size harness.Size = 64
	flag.Var(&size, "size", "bytes per object (e.g. 64, 32KiB)")
	count := flag.Uint64("count", 10_000_000, "objects in all")
	pointers := flag.Bool("pointers", false, "allocate pointer arrays instead of pointer-free buffers")
	k := flag.Uint64("goroutines", 1, "goroutines sharing the objects")
	flag.Parse()
	if size < 1 || size > 1<<30 {
		harness.Usage("alloc: --size %d: must be from 1 byte to 1GiB", size)
	}
	harness.ValidateGoroutines(*k)
	params := map[string]any{"size": uint64(size), "count": *count, "pointers": *pointers, "goroutines": *k}
	harness.Run("alloc", params, func() harness.Outcome {
		byteSinks, ptrSinks = make([][]byte, *k*8), make([][]*byte, *k*8) // a cache line apart
		words := int((size + 7) / 8)
		var wg sync.WaitGroup
		for g := uint64(0); g < *k; g++ {
			n := harness.Share(*count, *k, g)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := uint64(0); i < n; i++ {
					if *pointers {
						ptrSinks[g*8] = make([]*byte, words)
					} else {
						byteSinks[g*8] = make([]byte, size)
					}
				}
			}()
		}
		wg.Wait()
		kind := "pointer-free"
		if *pointers {
			kind = "pointer arrays"
		}
		check := *count * uint64(size)
		return harness.Outcome{
			Output: []string{
				fmt.Sprintf("alloc: %d objects of %d bytes (%s) in %d goroutines", *count, size, kind, *k),
				fmt.Sprintf("check: %d", check),
			},
			Check: check,
		}
	})
}
