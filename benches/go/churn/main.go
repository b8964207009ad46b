// churn is the Go twin of `gomem run churn`: a steady live set of 64-byte nodes in pairs that
// point at each other, replaced at random (SplitMix64, as gomem) until -total bytes of nodes
// have been allocated. The check value is the sum of the ids of the live nodes at the end.
package main

import (
	"flag"
	"fmt"
	"os"
	"sync"

	"gomem.example/twins/internal/harness"
)

// node is 64 bytes: a pointer to its pair, an id, six words of payload.
type node struct {
	peer *node
	id   uint64
	pad  [6]uint64
}

const nodeSize = 64

func newNode(id uint64, peer *node) *node {
	n := &node{id: id}
	if peer != nil {
		n.peer = peer
		peer.peer = n
	}
	return n
}

// churn is one goroutine's run; it returns the sum of the ids left in its slots.
func churn(g, k, n, steps, seed uint64) uint64 {
	var seq uint64
	nextID := func() uint64 { seq++; return (seq-1)*k + g + 1 }
	slots := make([]*node, n)
	for i := uint64(0); i < n; i += 2 {
		a := newNode(nextID(), nil)
		slots[i], slots[i+1] = a, newNode(nextID(), a)
	}
	rng := harness.ForGoroutine(seed, g)
	for s := uint64(0); s < steps; s++ {
		i := rng.Next() % n
		slots[i] = newNode(nextID(), slots[i^1])
	}
	var sum uint64
	for i := range slots {
		if slots[i].peer != slots[i^1] {
			fmt.Fprintf(os.Stderr, "churn: slot %d: peer does not point at the partner slot's node\n", i)
			os.Exit(1)
		}
		sum += slots[i].id
	}
	return sum
}

func main() {
	var live, total harness.Size = 64 << 20, 1 << 30
	flag.Var(&live, "live", "bytes kept live (e.g. 64MiB)")
	flag.Var(&total, "total", "bytes to allocate in all, the live set included (e.g. 4GiB)")
	k := flag.Uint64("goroutines", 1, "goroutines, each with its share of the live set")
	seed := flag.Uint64("seed", 1, "seed of the random replacements")
	flag.Parse()
	harness.ValidateGoroutines(*k)
	if min := 2 * nodeSize * *k; uint64(live) < min {
		harness.Usage("churn: --live %d: the live set needs at least two %d-byte nodes per goroutine (%d bytes for %d goroutines)", live, nodeSize, min, *k)
	}
	if total < live {
		harness.Usage("churn: --total %d is smaller than --live %d: the total includes the live set", total, live)
	}
	n := max((uint64(live)/nodeSize / *k)&^1, 2)
	replacements := uint64(total) / nodeSize
	if replacements > n**k {
		replacements -= n * *k
	} else {
		replacements = 0
	}
	params := map[string]any{"live": uint64(live), "total": uint64(total), "goroutines": *k, "seed": *seed}
	harness.Run("churn", params, func() harness.Outcome {
		sums := make([]uint64, *k)
		var wg sync.WaitGroup
		for g := uint64(0); g < *k; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sums[g] = churn(g, *k, n, harness.Share(replacements, *k, g), *seed)
			}()
		}
		wg.Wait()
		var check uint64
		for _, s := range sums {
			check += s
		}
		return harness.Outcome{
			Output: []string{
				fmt.Sprintf("churn: %d live nodes of %d bytes in %d goroutines, %d replacements", n**k, nodeSize, *k, replacements),
				fmt.Sprintf("check: %d", check),
			},
			Check: check,
		}
	})
}
