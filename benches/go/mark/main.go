// mark is the Go twin of `gomem run mark`: it builds -objects 24-byte nodes in one of four
// shapes (tree, list, array, churn; see benches/src/workloads/mark.rs for each), holds them
// from a global, forces -cycles collections with runtime.GC and reports each cycle's mark
// phase, median over the cycles:
//
//   - mark_wall_ns, mark_term_ns: the concurrent mark and mark termination clock fields of the
//     cycle's gctrace line (tMarkTerm-tMark and tEnd-tMarkTerm; see harness.CaptureGCTrace),
//   - mark_cpu_ns: /cpu/classes/gc/mark/{assist,dedicated,idle}:cpu-seconds, after minus
//     before; gc_cpu_ns: /cpu/classes/gc/total:cpu-seconds, the same,
//   - forced_gc_wall_ns: the wall time of runtime.GC (sweeping included),
//   - heap_marked_bytes: /gc/heap/live:bytes after the cycle.
//
// The check value hashes the ids in walk order, as gomem's does.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"time"

	"gomem.example/twins/internal/harness"
)

// node is 24 bytes, size class 24, as gomem's mark::Node.
type node struct {
	left, right *node
	id          uint64
}

const (
	nodeSize    = 24
	churnRounds = 3
	maxObjects  = 1<<32 - 1
	maxCycles   = 10000
)

var shapes = []string{"tree", "list", "array", "churn"}

// The live heap's roots: treeRoot for tree, list and churn, arrayRoot for array.
var (
	treeRoot  *node
	arrayRoot []*node
)

// ids hands out node ids in allocation order, from 1.
type ids uint64

func (i *ids) node() *node {
	*i++
	return &node{id: uint64(*i)}
}

// permutation is a random permutation of 0..n-1 (Fisher-Yates, as gomem's mark::permutation).
func permutation(n uint64, rng *harness.SplitMix64) []uint32 {
	p := make([]uint32, n)
	for i := range p {
		p[i] = uint32(i)
	}
	for i := len(p) - 1; i >= 1; i-- {
		j := rng.Next() % uint64(i+1)
		p[i], p[j] = p[j], p[i]
	}
	return p
}

// buildTree is a complete tree of n nodes in preorder: the root, a left subtree of (n-1)/2
// nodes, then the right subtree of the rest.
func buildTree(id *ids, n uint64) *node {
	t := id.node()
	left := (n - 1) / 2
	if left > 0 {
		t.left = buildTree(id, left)
	}
	if n-1-left > 0 {
		t.right = buildTree(id, n-1-left)
	}
	return t
}

// buildList fills a table, replaces random slots for churn, and links the table's nodes into a
// list in random order; the table is garbage when it returns.
func buildList(id *ids, n uint64, churn bool, rng *harness.SplitMix64) *node {
	table := make([]*node, n)
	for i := range table {
		table[i] = id.node()
	}
	if churn {
		for r := 0; r < churnRounds; r++ {
			for j := uint64(0); j < n; j++ {
				table[rng.Next()%n] = id.node()
			}
			runtime.GC()
		}
	}
	perm := permutation(n, rng)
	for k := 0; k+1 < len(perm); k++ {
		table[perm[k]].left = table[perm[k+1]]
	}
	return table[perm[0]]
}

func build(shape int, n, seed uint64) {
	var id ids
	rng := harness.ForGoroutine(seed, 0)
	switch shapes[shape] {
	case "tree":
		treeRoot = buildTree(&id, n)
	case "array":
		perm := permutation(n, rng)
		arrayRoot = make([]*node, n)
		for _, slot := range perm {
			arrayRoot[slot] = id.node()
		}
	default:
		treeRoot = buildList(&id, n, shapes[shape] == "churn", rng)
	}
}

// walk is FNV-1a over the ids in walk order, and the nodes met.
type walk struct{ hash, nodes uint64 }

func (w *walk) visit(id uint64) {
	w.hash = (w.hash ^ id) * 0x00000100000001B3
	w.nodes++
}

func (w *walk) tree(t *node) {
	w.visit(t.id)
	if t.left != nil {
		w.tree(t.left)
	}
	if t.right != nil {
		w.tree(t.right)
	}
}

func walkHeap(shape int) walk {
	w := walk{hash: 0xCBF29CE484222325}
	switch shapes[shape] {
	case "tree":
		if treeRoot != nil {
			w.tree(treeRoot)
		}
	case "array":
		for _, x := range arrayRoot {
			if x != nil {
				w.visit(x.id)
			}
		}
	default:
		for x := treeRoot; x != nil; x = x.left {
			w.visit(x.id)
		}
	}
	return w
}

// cycle is one forced cycle's figures (gomem's mark::CycleFigures).
type cycle struct {
	markWall, markTerm, markCPU, gcCPU, forcedWall, heapMarked uint64
}

var cycleMetrics = []string{
	"/cpu/classes/gc/mark/assist:cpu-seconds",
	"/cpu/classes/gc/mark/dedicated:cpu-seconds",
	"/cpu/classes/gc/mark/idle:cpu-seconds",
	"/cpu/classes/gc/total:cpu-seconds",
	"/gc/cycles/total:gc-cycles",
	"/gc/heap/live:bytes",
}

func samples() []metrics.Sample {
	s := make([]metrics.Sample, len(cycleMetrics))
	for i, n := range cycleMetrics {
		s[i].Name = n
	}
	return s
}

func seconds(s metrics.Sample) float64 { return s.Value.Float64() }

func measureCycle(trace *harness.GCTrace) cycle {
	before, after := samples(), samples()
	metrics.Read(before)
	t := time.Now()
	runtime.GC()
	forced := time.Since(t)
	metrics.Read(after)
	n := after[4].Value.Uint64()
	l, err := trace.Wait(n, 10*time.Second)
	if err != nil {
		fmt.Fprintf(os.Stderr, "mark: %v\n", err)
		os.Exit(1)
	}
	var mark float64
	for i := 0; i < 3; i++ {
		mark += seconds(after[i]) - seconds(before[i])
	}
	return cycle{
		markWall:   l.MarkNs,
		markTerm:   l.MarkTermNs,
		markCPU:    uint64(mark*1e9 + 0.5),
		gcCPU:      uint64((seconds(after[3])-seconds(before[3]))*1e9 + 0.5),
		forcedWall: uint64(forced.Nanoseconds()),
		heapMarked: after[5].Value.Uint64(),
	}
}

// median is the lower middle value, as gomem's mark::median.
func median(cs []cycle, f func(cycle) uint64) uint64 {
	v := make([]uint64, len(cs))
	for i, c := range cs {
		v[i] = f(c)
	}
	slices.Sort(v)
	return v[(len(v)-1)/2]
}

func main() {
	trace, err := harness.CaptureGCTrace()
	if err != nil {
		fmt.Fprintf(os.Stderr, "mark: %v\n", err)
		os.Exit(1)
	}
	shapeName := flag.String("shape", "tree", "the heap: tree, list, array or churn")
	objects := flag.Uint64("objects", 1<<20, "live 24-byte objects")
	cycles := flag.Uint64("cycles", 10, "forced collections measured")
	seed := flag.Uint64("seed", 1, "seed of the random orders and replacements")
	flag.Parse()
	shape := slices.Index(shapes, *shapeName)
	if shape < 0 {
		harness.Usage("mark: --shape: unknown shape %q: expected one of tree, list, array, churn", *shapeName)
	}
	if *objects < 1 || *objects > maxObjects {
		harness.Usage("mark: --objects %d: must be from 1 to %d", *objects, uint64(maxObjects))
	}
	if *cycles < 1 || *cycles > maxCycles {
		harness.Usage("mark: --cycles %d: must be from 1 to %d", *cycles, maxCycles)
	}
	params := map[string]any{"shape": *shapeName, "objects": *objects, "cycles": *cycles, "seed": *seed}
	harness.Run("mark", params, func() harness.Outcome {
		build(shape, *objects, *seed)
		// One untimed cycle first, as gomem's: the measured cycles start from a quiet heap.
		runtime.GC()
		cs := make([]cycle, *cycles)
		for i := range cs {
			cs[i] = measureCycle(trace)
		}
		w := walkHeap(shape)
		if w.nodes != *objects {
			fmt.Fprintf(os.Stderr, "mark: the walk met %d nodes of the %d built\n", w.nodes, *objects)
			os.Exit(1)
		}
		marked := *objects
		if shapes[shape] == "array" {
			marked++
		}
		markWall := median(cs, func(c cycle) uint64 { return c.markWall })
		markCPU := median(cs, func(c cycle) uint64 { return c.markCPU })
		perObject := func(ns uint64) uint64 { return ns * 1000 / marked }
		m := map[string]uint64{
			"objects_marked":          marked,
			"mark_wall_ns":            markWall,
			"mark_term_ns":            median(cs, func(c cycle) uint64 { return c.markTerm }),
			"mark_cpu_ns":             markCPU,
			"gc_cpu_ns":               median(cs, func(c cycle) uint64 { return c.gcCPU }),
			"forced_gc_wall_ns":       median(cs, func(c cycle) uint64 { return c.forcedWall }),
			"heap_marked_bytes":       median(cs, func(c cycle) uint64 { return c.heapMarked }),
			"mark_wall_ps_per_object": perObject(markWall),
			"mark_cpu_ps_per_object":  perObject(markCPU),
		}
		return harness.Outcome{
			Output: []string{
				fmt.Sprintf("mark: %s of %d objects of %d bytes, %d forced cycles", *shapeName, *objects, nodeSize, *cycles),
				fmt.Sprintf("median mark %.3f ms wall (%.2f ns/object), %.3f ms cpu (%.2f ns/object)",
					float64(markWall)/1e6, float64(m["mark_wall_ps_per_object"])/1e3,
					float64(markCPU)/1e6, float64(m["mark_cpu_ps_per_object"])/1e3),
				fmt.Sprintf("check: %d", w.hash),
			},
			Check:   w.hash,
			Metrics: m,
		}
	})
}
