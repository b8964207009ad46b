// burst is the Go twin of `gomem run burst`: build -peak bytes of live 1 KiB buffers in tables
// of 1024, drop all tables but the first -keep bytes' worth, then allocate 1 KiB garbage
// buffers at -rate bytes per second for -duration seconds, and check what was kept. Every byte
// of every kept buffer is written: the id (t*1024 + j + 1, little-endian) in the first 8 bytes,
// its low byte in the rest. The check value is the sum of the kept ids.
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gomem.example/twins/internal/harness"
)

const (
	bufferSize = 1024
	tableLen   = 1024
	tableBytes = bufferSize * tableLen
	tick       = 10 * time.Millisecond
	maxMillis  = 3_600_000
)

type buffer = [bufferSize]byte

// sink keeps tail garbage from being optimised away.
var sink atomic.Pointer[buffer]

func image(id uint64) *buffer {
	b := new(buffer)
	for i := range b {
		b[i] = byte(id)
	}
	binary.LittleEndian.PutUint64(b[:8], id)
	return b
}

// seconds is a flag.Value for -duration: seconds with at most 3 decimals, kept in ms, in the
// grammar of gomem's parse_seconds.
type seconds uint64

func (s *seconds) String() string { return formatSeconds(uint64(*s)) }

func (s *seconds) Set(v string) error {
	bad := fmt.Errorf("not a duration: %q: expected seconds such as 5, 2.5 or 0.25", v)
	whole, frac, dot := strings.Cut(v, ".")
	digits := func(x string) bool { return strings.Trim(x, "0123456789") == "" }
	if (whole == "" && frac == "") || !digits(whole) || !digits(frac) || len(frac) > 3 || (dot && frac == "") {
		return bad
	}
	var w uint64
	if whole != "" {
		n, err := strconv.ParseUint(whole, 10, 64)
		if err != nil {
			return bad
		}
		w = n
	}
	m, _ := strconv.ParseUint((frac + "000")[:3], 10, 64)
	if w > (1<<64-1-m)/1000 {
		return bad
	}
	*s = seconds(w*1000 + m)
	return nil
}

func formatSeconds(ms uint64) string {
	if ms%1000 == 0 {
		return strconv.FormatUint(ms/1000, 10)
	}
	return strings.TrimRight(fmt.Sprintf("%d.%03d", ms/1000, ms%1000), "0")
}

type shared struct {
	built, dropped atomic.Uint64
	dropNs         atomic.Int64
	rssAtDrop      atomic.Uint64
	tailBytes      atomic.Uint64
	t0             time.Time
}

func burst(g, k, tables, kept, durationMs, rate uint64, sh *shared) uint64 {
	var mine []uint64
	for t := uint64(0); t < tables; t++ {
		if t%k == g {
			mine = append(mine, t)
		}
	}
	top := make([][]*buffer, len(mine))
	for i, t := range mine {
		table := make([]*buffer, tableLen)
		for j := uint64(0); j < tableLen; j++ {
			table[j] = image(t*tableLen + j + 1)
		}
		top[i] = table
	}
	sh.built.Add(1)
	for sh.built.Load() < k {
		time.Sleep(time.Millisecond)
	}
	for i, t := range mine {
		if t >= kept {
			top[i] = nil
		}
	}
	now := time.Since(sh.t0).Nanoseconds()
	for {
		old := sh.dropNs.Load()
		if now <= old || sh.dropNs.CompareAndSwap(old, now) {
			break
		}
	}
	if sh.dropped.Add(1) == k {
		sh.rssAtDrop.Store(harness.ProcessRSS())
	}

	perTick := (rate / k) / uint64(time.Second/tick)
	start := time.Now()
	end := start.Add(time.Duration(durationMs) * time.Millisecond)
	next := start
	var owed uint64
	for time.Now().Before(end) {
		owed += perTick
		for owed >= bufferSize {
			b := new(buffer)
			binary.LittleEndian.PutUint64(b[:8], owed)
			sink.Store(b)
			owed -= bufferSize
			sh.tailBytes.Add(bufferSize)
		}
		next = next.Add(tick)
		if d := time.Until(next); d > 0 {
			time.Sleep(min(d, time.Until(end)))
		}
	}

	var sum uint64
	for i, t := range mine {
		if t >= kept {
			continue
		}
		for j, b := range top[i] {
			id := t*tableLen + uint64(j) + 1
			if b == nil || *b != *image(id) {
				fmt.Fprintf(os.Stderr, "burst: table %d buffer %d: contents changed\n", t, j)
				os.Exit(1)
			}
			sum += id
		}
	}
	return sum
}

func main() {
	var peak, keep, rate harness.Size = 256 << 20, 16 << 20, 64 << 20
	duration := seconds(10000)
	flag.Var(&peak, "peak", "bytes of live buffers built (whole MiB)")
	flag.Var(&keep, "keep", "bytes kept live after the drop (whole MiB)")
	flag.Var(&duration, "duration", "seconds of the tail after the drop (e.g. 5, 2.5)")
	flag.Var(&rate, "rate", "garbage allocated per second during the tail, all goroutines together")
	k := flag.Uint64("goroutines", 1, "goroutines sharing the tables and the tail")
	flag.Parse()
	harness.ValidateGoroutines(*k)
	tables, kept := uint64(peak)/tableBytes, uint64(keep)/tableBytes
	if tables < *k {
		harness.Usage("burst: --peak %d: at least one 1 MiB table per goroutine (%d bytes for %d goroutines)", peak, tableBytes**k, *k)
	}
	if keep > peak {
		harness.Usage("burst: --keep %d is larger than --peak %d: the kept data is part of the burst", keep, peak)
	}
	if duration > maxMillis {
		harness.Usage("burst: --duration %s: at most %d seconds", formatSeconds(uint64(duration)), maxMillis/1000)
	}
	params := map[string]any{"peak": uint64(peak), "keep": uint64(keep), "duration_ms": uint64(duration), "rate": uint64(rate), "goroutines": *k}
	harness.Run("burst", params, func() harness.Outcome {
		sh := &shared{t0: time.Now()}
		sums := make([]uint64, *k)
		var wg sync.WaitGroup
		for g := uint64(0); g < *k; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sums[g] = burst(g, *k, tables, kept, uint64(duration), uint64(rate), sh)
			}()
		}
		wg.Wait()
		rssEnd := harness.ProcessRSS()
		var check uint64
		for _, s := range sums {
			check += s
		}
		return harness.Outcome{
			Output: []string{
				fmt.Sprintf("burst: built %d tables of %d buffers of %d bytes in %d goroutines, kept %d", tables, tableLen, bufferSize, *k, kept),
				fmt.Sprintf("check: %d", check),
			},
			Check: check,
			Metrics: map[string]uint64{
				"drop_at_ms":        uint64(sh.dropNs.Load() / 1e6),
				"rss_at_drop_bytes": sh.rssAtDrop.Load(),
				"rss_end_bytes":     rssEnd,
				"tail_alloc_bytes":  sh.tailBytes.Load(),
			},
		}
	})
}
