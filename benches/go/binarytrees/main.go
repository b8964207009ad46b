// binarytrees is the Go twin of `gomem run binary-trees`: the Computer Language Benchmarks
// Game program, printing the same lines (single goroutine unless -goroutines is given). The
// check value is the sum of every check it prints.
package main

import (
	"flag"
	"fmt"
	"sync"

	"gomem.example/twins/internal/harness"
)

type Node struct{ left, right *Node }

func bottomUp(depth int) *Node {
	if depth <= 0 {
		return &Node{}
	}
	l := bottomUp(depth - 1)
	r := bottomUp(depth - 1)
	return &Node{l, r}
}

func (n *Node) check() int {
	if n.left == nil {
		return 1
	}
	return 1 + n.left.check() + n.right.check()
}

func main() {
	n := flag.Uint("depth", 10, "maximum tree depth (the benchmark's N)")
	k := flag.Uint64("goroutines", 1, "goroutines sharing each depth's trees")
	flag.Parse()
	if *n > 30 {
		harness.Usage("binary-trees: --depth %d: at most 30", *n)
	}
	harness.ValidateGoroutines(*k)
	params := map[string]any{"depth": *n, "goroutines": *k}
	harness.Run("binary-trees", params, func() harness.Outcome {
		var out []string
		minDepth := 4
		maxDepth := max(int(*n), minDepth+2)
		stretch := maxDepth + 1
		c := bottomUp(stretch).check()
		total := uint64(c)
		out = append(out, fmt.Sprintf("stretch tree of depth %d\t check: %d", stretch, c))
		long := bottomUp(maxDepth)
		for d := minDepth; d <= maxDepth; d += 2 {
			iters := uint64(1) << uint(maxDepth-d+minDepth)
			var wg sync.WaitGroup
			sums := make([]int, *k)
			for g := uint64(0); g < *k; g++ {
				share := harness.Share(iters, *k, g)
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := uint64(0); i < share; i++ {
						sums[g] += bottomUp(d).check()
					}
				}()
			}
			wg.Wait()
			sum := 0
			for _, s := range sums {
				sum += s
			}
			total += uint64(sum)
			out = append(out, fmt.Sprintf("%d\t trees of depth %d\t check: %d", iters, d, sum))
		}
		c = long.check()
		total += uint64(c)
		out = append(out, fmt.Sprintf("long lived tree of depth %d\t check: %d", maxDepth, c))
		return harness.Outcome{Output: out, Check: total}
	})
}
