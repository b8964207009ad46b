// Package harness is what every Go twin shares with `gomem run`: the -json, -gogc, -memlimit
// and -procs flags, sizes with binary units, SplitMix64, and the measured report (the same
// JSON object, key for key, as gomem's workloads::report::Report).
//
// Where each number comes from (gomem's side is in benches/src/workloads/report.rs):
//
//   - wall_s: time.Now around the workload; user_s, sys_s: syscall.Getrusage(RUSAGE_SELF),
//     after minus before; peak_rss_bytes: the larger of ru_maxrss × 1024 and
//     every rss_samples value.
//   - mallocs, total_alloc_bytes, num_gc, pause_total_ns, gc_cpu_fraction, heap_goal_bytes:
//     runtime.ReadMemStats at the end (Mallocs, TotalAlloc, NumGC, PauseTotalNs,
//     GCCPUFraction, NextGC).
//   - pause_p99_ns, pause_max_ns: the /sched/pauses/total/gc:seconds histogram (every
//     stop-the-world pause of the GC), as the upper bound of the bucket holding the rank. For
//     the maximum, the smaller of that bound and the largest per-cycle total in
//     MemStats.PauseNs (both are upper bounds of the longest single pause).
//   - peak_heap_alloc_bytes: /memory/classes/heap/objects:bytes (HeapAlloc), read every 10 ms
//     by a monitor goroutine (metrics.Read does not stop the world) and at the end.
//   - gc_limiter_last_enabled: /gc/limiter/last-enabled:gc-cycle (0 = never).
//   - rss_samples: every 100 ms and at the end, /proc/self/statm's resident pages × page size,
//     /memory/classes/heap/objects:bytes and /memory/classes/heap/released:bytes.
package harness

import (
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"math"
	"math/bits"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Outcome is what a workload run produced (gomem's workloads::Outcome).
type Outcome struct {
	Output  []string          // the workload's lines
	Check   uint64            // the check value, equal to gomem's for the same parameters
	Metrics map[string]uint64 // workload-specific measurements
}

// Report is the JSON object printed with -json (gomem's workloads::report::Report).
type Report struct {
	Runtime            string            `json:"runtime"`
	Workload           string            `json:"workload"`
	Parameters         map[string]any    `json:"parameters"`
	GOGC               int64             `json:"gogc"`
	GOMEMLIMIT         *uint64           `json:"gomemlimit_bytes"`
	GOMAXPROCS         uint64            `json:"gomaxprocs"`
	WallS              float64           `json:"wall_s"`
	UserS              float64           `json:"user_s"`
	SysS               float64           `json:"sys_s"`
	Mallocs            uint64            `json:"mallocs"`
	TotalAllocBytes    uint64            `json:"total_alloc_bytes"`
	NumGC              uint64            `json:"num_gc"`
	PauseTotalNs       uint64            `json:"pause_total_ns"`
	PauseMaxNs         uint64            `json:"pause_max_ns"`
	PauseP99Ns         uint64            `json:"pause_p99_ns"`
	GCCPUFraction      float64           `json:"gc_cpu_fraction"`
	PeakHeapAllocBytes uint64            `json:"peak_heap_alloc_bytes"`
	PeakRSSBytes       uint64            `json:"peak_rss_bytes"`
	RSSSamples         []RSSSample       `json:"rss_samples"`
	HeapGoalBytes      uint64            `json:"heap_goal_bytes"`
	LimiterLastEnabled uint64            `json:"gc_limiter_last_enabled"`
	Check              uint64            `json:"check"`
	Metrics            map[string]uint64 `json:"metrics"`
	Output             []string          `json:"output"`
}

// RSSSample is one point of the run's memory over time (gomem's report::RssSample).
type RSSSample struct {
	TS            float64 `json:"t_s"`
	RSSBytes      uint64  `json:"rss_bytes"`
	HeapBytes     uint64  `json:"heap_bytes"`
	ReleasedBytes uint64  `json:"released_bytes"`
}

// ProcessRSS is /proc/self/statm's resident field in bytes (0 where there is no /proc).
func ProcessRSS() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.ParseUint(f[1], 10, 64)
	return n * uint64(os.Getpagesize())
}

var (
	jsonOut  = flag.Bool("json", false, "print one JSON object on stdout instead of the output lines")
	gogc     = flag.String("gogc", "", "GOGC: a percentage or \"off\" (overrides the environment)")
	memlimit = flag.String("memlimit", "", "GOMEMLIMIT: bytes with an optional unit or \"off\" (overrides the environment)")
	procs    = flag.String("procs", "", "GOMAXPROCS (overrides the environment)")
	_        = flag.Bool("no-progress", false, "accepted for gomem's sake; the twins draw no progress bar")
)

// Usage prints a usage error and exits with status 2, as flag errors do.
func Usage(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s: %s\n", os.Args[0], fmt.Sprintf(format, args...))
	os.Exit(2)
}

// Size is a flag.Value for a byte count: an integer with an optional B, KiB, MiB, GiB or TiB.
type Size uint64

func (s *Size) String() string { return strconv.FormatUint(uint64(*s), 10) }

// Set parses a size, in the grammar of gomem's parse_size (and of GOMEMLIMIT).
func (s *Size) Set(v string) error {
	n, err := ParseSize(v)
	*s = Size(n)
	return err
}

// ParseSize parses "4096", "64MiB", "4GiB".
func ParseSize(v string) (uint64, error) {
	digits, mult := v, uint64(1)
	for _, u := range []struct {
		s string
		m uint64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(v, u.s) {
			digits, mult = strings.TrimSuffix(v, u.s), u.m
			break
		}
	}
	if digits == "" || strings.TrimLeft(digits, "0123456789") != "" {
		return 0, fmt.Errorf("not a size: expected a non-negative integer optionally followed by B, KiB, MiB, GiB or TiB (powers of 1024), e.g. 64MiB")
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || (n != 0 && n*mult/mult != n) {
		return 0, fmt.Errorf("too large: at most 2^64-1 bytes")
	}
	return n * mult, nil
}

// SplitMix64 is the generator gomem's workloads use (workloads::SplitMix64), bit for bit.
type SplitMix64 struct{ state uint64 }

const gamma = 0x9E3779B97F4A7C15

// ForGoroutine is the generator of goroutine g in a run seeded with seed.
func ForGoroutine(seed, g uint64) *SplitMix64 { return &SplitMix64{seed + (g+1)*gamma} }

// Next returns 64 random bits.
func (r *SplitMix64) Next() uint64 {
	r.state += gamma
	z := r.state
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// Share is goroutine g's share of n units split among k (the first n%k get one more).
func Share(n, k, g uint64) uint64 {
	s := n / k
	if g < n%k {
		s++
	}
	return s
}

// ValidateGoroutines checks -goroutines as gomem does.
func ValidateGoroutines(k uint64) {
	if k < 1 || k > 4096 {
		Usage("--goroutines %d: must be from 1 to 4096", k)
	}
}

// applyRuntimeFlags applies -gogc, -memlimit and -procs over what the environment set.
func applyRuntimeFlags() {
	if *gogc != "" {
		if *gogc == "off" {
			debug.SetGCPercent(-1)
		} else if n, err := strconv.ParseInt(*gogc, 10, 32); err == nil {
			debug.SetGCPercent(int(n))
		} else {
			Usage("invalid value %q for flag -gogc: not an integer or \"off\"", *gogc)
		}
	}
	if *memlimit != "" {
		if *memlimit == "off" {
			debug.SetMemoryLimit(math.MaxInt64)
		} else if n, err := ParseSize(*memlimit); err == nil && n <= math.MaxInt64 {
			debug.SetMemoryLimit(int64(n))
		} else {
			Usage("invalid value %q for flag -memlimit: %v", *memlimit, err)
		}
	}
	if *procs != "" {
		n, err := strconv.ParseInt(*procs, 10, 32)
		if err != nil || n < 1 {
			Usage("invalid value %q for flag -procs: must be a positive integer", *procs)
		}
		runtime.GOMAXPROCS(int(n))
	}
}

func rusage() (user, sys float64, maxRSS uint64) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0, 0, 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime), tv(ru.Stime), uint64(ru.Maxrss) * 1024
}

// readHeap reads /memory/classes/heap/objects:bytes (HeapAlloc) without stopping the world.
func readHeap(s []metrics.Sample) uint64 {
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// pauseStats gives the p99 and the maximum of single GC pauses from the runtime's histogram.
func pauseStats(ms *runtime.MemStats) (p99, max uint64) {
	s := []metrics.Sample{{Name: "/sched/pauses/total/gc:seconds"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64Histogram {
		return 0, 0
	}
	h := s[0].Value.Float64Histogram()
	var n uint64
	for _, c := range h.Counts {
		n += c
	}
	if n == 0 {
		return 0, 0
	}
	upper := func(i int) uint64 {
		b := h.Buckets[i+1]
		if math.IsInf(b, 1) {
			b = h.Buckets[i]
		}
		return uint64(b * 1e9)
	}
	rank := uint64(math.Ceil(0.99 * float64(n)))
	var cum uint64
	p99set := false
	for i, c := range h.Counts {
		cum += c
		if !p99set && cum >= rank {
			p99, p99set = upper(i), true
		}
		if c > 0 {
			max = upper(i)
		}
	}
	// Each PauseNs entry is one cycle's total pause, so it bounds each of its pauses too.
	if ms.NumGC > 0 && ms.NumGC <= uint32(len(ms.PauseNs)) {
		ring := slices.Max(ms.PauseNs[:ms.NumGC])
		max = min(max, ring)
	}
	return min(p99, max), max
}

// Run measures run(), then prints its output lines or, with -json, the report. It must be
// called after flag.Parse.
func Run(workload string, params map[string]any, run func() Outcome) {
	applyRuntimeFlags()
	heap := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	peak := readHeap(heap)
	type monitorResult struct {
		peak    uint64
		samples []RSSSample
	}
	stop, stopped := make(chan struct{}), make(chan monitorResult)
	t0 := time.Now()
	go func() {
		// The monitor: its own sample slices, so it never races with the final read.
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		mem := []metrics.Sample{
			{Name: "/memory/classes/heap/objects:bytes"},
			{Name: "/memory/classes/heap/released:bytes"},
		}
		sample := func(samples []RSSSample) []RSSSample {
			metrics.Read(mem)
			return append(samples, RSSSample{
				TS: time.Since(t0).Seconds(), RSSBytes: ProcessRSS(),
				HeapBytes: mem[0].Value.Uint64(), ReleasedBytes: mem[1].Value.Uint64(),
			})
		}
		p := readHeap(s)
		samples := sample(nil)
		next := 100 * time.Millisecond
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				p = max(p, readHeap(s))
				if time.Since(t0) >= next {
					samples = sample(samples)
					next += 100 * time.Millisecond
				}
			case <-stop:
				stopped <- monitorResult{p, sample(samples)}
				return
			}
		}
	}()
	u0, s0, _ := rusage()
	out := run()
	wall := time.Since(t0)
	close(stop)
	mon := <-stopped
	peak = max(peak, mon.peak, readHeap(heap))
	u1, s1, rss := rusage()
	// ru_maxrss is updated lazily by the kernel: a later sample can be above it.
	for _, r := range mon.samples {
		rss = max(rss, r.RSSBytes)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	p99, pmax := pauseStats(&ms)

	cfg := []metrics.Sample{
		{Name: "/gc/gogc:percent"}, {Name: "/gc/gomemlimit:bytes"},
		{Name: "/gc/limiter/last-enabled:gc-cycle"},
	}
	metrics.Read(cfg)
	gc := int64(cfg[0].Value.Uint64()) // GOGC=off is -1 as an int32, stored as a uint64
	var limit *uint64
	if l := cfg[1].Value.Uint64(); l < math.MaxInt64 {
		limit = &l
	}
	if out.Metrics == nil {
		out.Metrics = map[string]uint64{}
	}
	if out.Output == nil {
		out.Output = []string{}
	}
	r := Report{
		Runtime: "go", Workload: workload, Parameters: params,
		GOGC: gc, GOMEMLIMIT: limit, GOMAXPROCS: uint64(runtime.GOMAXPROCS(0)),
		WallS: wall.Seconds(), UserS: u1 - u0, SysS: s1 - s0,
		Mallocs: ms.Mallocs, TotalAllocBytes: ms.TotalAlloc, NumGC: uint64(ms.NumGC),
		PauseTotalNs: ms.PauseTotalNs, PauseMaxNs: pmax, PauseP99Ns: p99,
		GCCPUFraction: ms.GCCPUFraction, PeakHeapAllocBytes: peak, PeakRSSBytes: rss,
		RSSSamples:    mon.samples,
		HeapGoalBytes: ms.NextGC, LimiterLastEnabled: cfg[2].Value.Uint64(),
		Check: out.Check, Metrics: out.Metrics, Output: out.Output,
	}
	if *jsonOut {
		b, err := json.Marshal(r)
		if err != nil {
			panic(err)
		}
		fmt.Println(string(b))
		return
	}
	for _, l := range out.Output {
		fmt.Println(l)
	}
	fmt.Fprint(os.Stderr, r.Summary())
}

// FormatSize formats a byte count as gomem's format_size does: 512 B, 1.50 KiB, 64.0 MiB.
func FormatSize(b uint64) string {
	if b < 1024 {
		return fmt.Sprintf("%d B", b)
	}
	units := []string{"KiB", "MiB", "GiB", "TiB"}
	i := min((bits.Len64(b)-1)/10, len(units)) - 1
	v := float64(b) / float64(uint64(1)<<(10*(i+1)))
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f %s", v, units[i])
	case v >= 10:
		return fmt.Sprintf("%.1f %s", v, units[i])
	default:
		return fmt.Sprintf("%.2f %s", v, units[i])
	}
}

// Summary is the table printed on stderr without -json, row for row as gomem's.
func (r *Report) Summary() string {
	ms := func(ns uint64) string { return fmt.Sprintf("%.3f ms", float64(ns)/1e6) }
	keys := slices.Sorted(maps.Keys(r.Parameters))
	var params []string
	for _, k := range keys {
		params = append(params, fmt.Sprintf("%s=%v", k, r.Parameters[k]))
	}
	limiter := "never on"
	if r.LimiterLastEnabled != 0 {
		limiter = fmt.Sprintf("last on in cycle %d", r.LimiterLastEnabled)
	}
	limit, gogc := "off", "off"
	if r.GOMEMLIMIT != nil {
		limit = FormatSize(*r.GOMEMLIMIT)
	}
	if r.GOGC >= 0 {
		gogc = strconv.FormatInt(r.GOGC, 10)
	}
	rows := [][2]string{
		{"workload", fmt.Sprintf("%s (%s)", r.Workload, strings.Join(params, " "))},
		{"runtime", fmt.Sprintf("%s GOGC=%s GOMEMLIMIT=%s GOMAXPROCS=%d", r.Runtime, gogc, limit, r.GOMAXPROCS)},
		{"wall", fmt.Sprintf("%.3f s", r.WallS)},
		{"cpu", fmt.Sprintf("%.3f s user, %.3f s sys", r.UserS, r.SysS)},
		{"allocated", fmt.Sprintf("%s in %d objects", FormatSize(r.TotalAllocBytes), r.Mallocs)},
		{"GC cycles", strconv.FormatUint(r.NumGC, 10)},
		{"GC pauses", fmt.Sprintf("total %s, max %s, p99 %s", ms(r.PauseTotalNs), ms(r.PauseMaxNs), ms(r.PauseP99Ns))},
		{"GC CPU", fmt.Sprintf("%.1f%%", r.GCCPUFraction*100)},
		{"GC CPU limiter", limiter},
		{"peak heap", fmt.Sprintf("%s (sampled every 10 ms)", FormatSize(r.PeakHeapAllocBytes))},
		{"heap goal", FormatSize(r.HeapGoalBytes)},
		{"peak RSS", FormatSize(r.PeakRSSBytes)},
		{"check", strconv.FormatUint(r.Check, 10)},
	}
	for _, k := range slices.Sorted(maps.Keys(r.Metrics)) {
		rows = append(rows, [2]string{k, strconv.FormatUint(r.Metrics[k], 10)})
	}
	var b strings.Builder
	for _, row := range rows {
		fmt.Fprintf(&b, "%-22s %s\n", row[0], row[1])
	}
	return b.String()
}
