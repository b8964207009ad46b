// latency is the Go twin of `gomem run latency` (the idea of x/benchmarks' gc_latency): a ring
// of -buffers buffers of -size bytes, then -steps steps that each allocate a new buffer and
// store it over the oldest. Only the allocation is timed. Each buffer's first 8 bytes hold its
// tag (t*goroutines + g + 1, little-endian); the check value is the sum of the tags left.
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"gomem.example/twins/internal/harness"
)

func percentile(sorted []uint64, q float64) uint64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(q * float64(len(sorted)))) // nearest rank, as gomem
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// ring is one goroutine's run: fill, then steps timed allocations.
func ring(g, k, n, steps uint64, size int) (delays []uint64, sum uint64) {
	r := make([][]byte, n)
	delays = make([]uint64, 0, steps)
	for t := uint64(0); t < n+steps; t++ {
		start := time.Now()
		b := make([]byte, size)
		if t >= n {
			delays = append(delays, uint64(time.Since(start).Nanoseconds()))
		}
		r[t%n] = b
		binary.LittleEndian.PutUint64(b, t*k+g+1)
	}
	for _, b := range r {
		sum += binary.LittleEndian.Uint64(b)
	}
	return delays, sum
}

func main() {
	var size harness.Size = 1024
	buffers := flag.Uint64("buffers", 200_000, "buffers in the ring (200000 × 1 KiB ≈ 200 MiB live)")
	flag.Var(&size, "size", "bytes per buffer")
	steps := flag.Uint64("steps", 1_000_000, "timed allocations")
	k := flag.Uint64("goroutines", 1, "goroutines, each with its own ring")
	flag.Parse()
	harness.ValidateGoroutines(*k)
	if size < 8 || size > 1<<30 {
		harness.Usage("latency: --size %d: must be from 8 bytes (the tag) to 1GiB", size)
	}
	if *buffers < *k {
		harness.Usage("latency: --buffers %d: at least one buffer per goroutine (%d)", *buffers, *k)
	}
	n := max(*buffers / *k, 1)
	params := map[string]any{"buffers": *buffers, "size": uint64(size), "steps": *steps, "goroutines": *k}
	harness.Run("latency", params, func() harness.Outcome {
		all := make([][]uint64, *k)
		sums := make([]uint64, *k)
		var wg sync.WaitGroup
		for g := uint64(0); g < *k; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				all[g], sums[g] = ring(g, *k, n, harness.Share(*steps, *k, g), int(size))
			}()
		}
		wg.Wait()
		var delays []uint64
		var check uint64
		for g := range all {
			delays = append(delays, all[g]...)
			check += sums[g]
		}
		slices.Sort(delays)
		m := map[string]uint64{
			"alloc_delay_p50_ns":  percentile(delays, 0.50),
			"alloc_delay_p99_ns":  percentile(delays, 0.99),
			"alloc_delay_p999_ns": percentile(delays, 0.999),
			"alloc_delay_max_ns":  0,
		}
		if len(delays) > 0 {
			m["alloc_delay_max_ns"] = delays[len(delays)-1]
		}
		return harness.Outcome{
			Output: []string{
				fmt.Sprintf("latency: ring of %d buffers of %d bytes, %d timed allocations in %d goroutines", n**k, size, *steps, *k),
				fmt.Sprintf("allocation delay: p50 %d ns, p99 %d ns, p99.9 %d ns, max %d ns",
					m["alloc_delay_p50_ns"], m["alloc_delay_p99_ns"], m["alloc_delay_p999_ns"], m["alloc_delay_max_ns"]),
				fmt.Sprintf("check: %d", check),
			},
			Check:   check,
			Metrics: m,
		}
	})
}
