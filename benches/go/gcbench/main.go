// gcbench is the Go twin of `gomem run gcbench`: Boehm's GCBench (GCBench.c's output lines)
// with the same -scale and -goroutines, and the same check value (nodes of the long-lived
// tree, walked at the end, plus the array entries still holding 1.0/i).
package main

import (
	"flag"
	"fmt"
	"sync"
	"time"
	"unsafe"

	"gomem.example/twins/internal/harness"
)

// Node is GCBench's Node0: 24 bytes.
type Node struct {
	left, right *Node
	i, j        int32
}

const (
	kStretchTreeDepth   = 18
	kLongLivedTreeDepth = 16
	kArraySize          = 500000
	kMinTreeDepth       = 4
	kMaxTreeDepth       = 16
)

// TreeSize is the number of nodes in a perfect tree of depth i.
func TreeSize(i int) uint64 { return (1 << (i + 1)) - 1 }

// Populate builds a tree top down, storing new children into their older parent.
func Populate(depth int, n *Node) {
	if depth <= 0 {
		return
	}
	depth--
	n.left = &Node{}
	n.right = &Node{}
	Populate(depth, n.left)
	Populate(depth, n.right)
}

// MakeTree builds a tree bottom up.
func MakeTree(depth int) *Node {
	if depth <= 0 {
		return &Node{}
	}
	return &Node{left: MakeTree(depth - 1), right: MakeTree(depth - 1)}
}

func count(n *Node) uint64 {
	if n == nil {
		return 0
	}
	return 1 + count(n.left) + count(n.right)
}

// sink keeps the temporary trees heap-allocated, as they are in gomem.
var sink *Node

// phase builds iters trees of depth, shared among k goroutines; returns the milliseconds.
func phase(depth int, iters, k uint64, topDown bool) int64 {
	t := time.Now()
	var wg sync.WaitGroup
	for g := uint64(0); g < k; g++ {
		n := harness.Share(iters, k, g)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := uint64(0); i < n; i++ {
				if topDown {
					temp := &Node{}
					Populate(depth, temp)
					sink = temp
				} else {
					sink = MakeTree(depth)
				}
			}
		}()
	}
	wg.Wait()
	sink = nil
	return time.Since(t).Milliseconds()
}

func main() {
	scale := flag.Int("scale", 0, "add N to the stretch, long-lived and maximum depths, scale the array by 2^N")
	k := flag.Uint64("goroutines", 1, "goroutines sharing each timed phase's trees")
	flag.Parse()
	if *scale < -12 || *scale > 4 {
		harness.Usage("gcbench: --scale %d: must be from -12 to 4", *scale)
	}
	harness.ValidateGoroutines(*k)
	s := *scale
	stretchDepth, longLivedDepth, maxDepth := kStretchTreeDepth+s, kLongLivedTreeDepth+s, kMaxTreeDepth+s
	minDepth := kMinTreeDepth
	arraySize := uint64(kArraySize)
	if s >= 0 {
		arraySize <<= s
	} else {
		arraySize >>= -s
	}
	params := map[string]any{
		"scale": s, "stretch_depth": stretchDepth, "long_lived_depth": longLivedDepth,
		"array_size": arraySize, "min_depth": minDepth, "max_depth": maxDepth, "goroutines": *k,
	}
	harness.Run("gcbench", params, func() harness.Outcome {
		var out []string
		p := func(format string, a ...any) { out = append(out, fmt.Sprintf(format, a...)) }
		p("Garbage Collector Test")
		p(" Live storage will peak at %d bytes.\n",
			2*uint64(unsafe.Sizeof(Node{}))*TreeSize(longLivedDepth)+8*arraySize)
		p(" Stretching memory with a binary tree of depth %d", stretchDepth)
		tStart := time.Now()

		sink = MakeTree(stretchDepth)
		sink = nil

		p(" Creating a long-lived binary tree of depth %d", longLivedDepth)
		p(" Creating a long-lived array of %d doubles", arraySize)
		longLivedTree := &Node{}
		Populate(longLivedDepth, longLivedTree)
		array := make([]float64, arraySize)
		for i := uint64(0); i < arraySize/2; i++ {
			array[i] = 1.0 / float64(i)
		}

		for d := minDepth; d <= maxDepth; d += 2 {
			iters := 2 * TreeSize(stretchDepth) / TreeSize(d)
			p("Creating %d trees of depth %d", iters, d)
			p("\tTop down construction took %d msec", phase(d, iters, *k, true))
			p("\tBottom up construction took %d msec", phase(d, iters, *k, false))
		}

		nodes, doubles := count(longLivedTree), uint64(0)
		for i := uint64(0); i < arraySize/2; i++ {
			if array[i] == 1.0/float64(i) {
				doubles++
			}
		}
		if nodes != TreeSize(longLivedDepth) || doubles != arraySize/2 {
			p("Failed")
		}
		p("Completed in %d msec", time.Since(tStart).Milliseconds())
		check := nodes + doubles
		p("check: %d", check)
		// The output lines are split as gomem splits its text.
		var lines []string
		for _, l := range out {
			lines = append(lines, splitLines(l)...)
		}
		return harness.Outcome{Output: lines, Check: check}
	})
}

func splitLines(s string) []string {
	var r []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			r = append(r, s[start:i])
			start = i + 1
		}
	}
	return append(r, s[start:])
}
