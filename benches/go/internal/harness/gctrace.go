package harness

// Reading this process's own gctrace lines, for the twins that report per-cycle phase times
// (mark). The runtime prints one line per cycle to file descriptor 2 when GODEBUG has
// gctrace=1, and reads that setting once, at start-up; runtime/metrics has the GC's CPU time
// per class but no wall time of the mark phase, which only the gctrace line (or an execution
// trace) gives. So CaptureGCTrace, called first thing in main:
//
//  1. re-executes the program (syscall.Exec: the same process, before anything is measured)
//     with gctrace=1 appended to GODEBUG, unless it is set already;
//  2. points descriptor 2 at a pipe and os.Stderr at a copy of the old descriptor 2, so the
//     program's own messages go straight out, and so do crash reports (debug.SetCrashOutput);
//  3. reads the pipe in a goroutine: gctrace lines are kept for GCTrace.Wait, and passed on
//     only if the caller had asked for gctrace itself; anything else the runtime prints is
//     passed on.
//
// The clock fields of a gctrace line are printed in milliseconds with two significant digits
// below 10 ms and as whole milliseconds above, so the times parsed from it are that coarse.

import (
	"bufio"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// capturedEnv is set in the environment of the re-executed program: "1" if the gctrace lines
// are to be passed on to stderr (the caller asked for them), "0" if not.
const capturedEnv = "GOMEM_TWIN_GCTRACE_CAPTURED"

// oldStderr is the *os.File of descriptor 2 that os.Stderr was, kept reachable.
var oldStderr *os.File

// GCTraceLine is one cycle's gctrace line: its number and its three clock phases.
type GCTraceLine struct {
	N           uint64 // the cycle ("gc N")
	SweepTermNs uint64 // the sweep-termination pause
	MarkNs      uint64 // concurrent mark: tMarkTerm - tMark
	MarkTermNs  uint64 // mark termination: tEnd - tMarkTerm
}

// GCTrace holds the gctrace lines read so far.
type GCTrace struct {
	mu    sync.Mutex
	cond  *sync.Cond
	lines map[uint64]GCTraceLine
	done  bool
}

// gctraceOn says whether GODEBUG sets gctrace to a nonzero value (the last setting wins, as in
// the runtime's start-up parse).
func gctraceOn(godebug string) bool {
	on := false
	for _, f := range strings.Split(godebug, ",") {
		if v, ok := strings.CutPrefix(f, "gctrace="); ok {
			n, err := strconv.Atoi(v)
			on = err == nil && n > 0
		}
	}
	return on
}

// ParseGCTraceLine parses "gc 3 @0.120s 2%: 0.011+4.5+0.020 ms clock, ...".
func ParseGCTraceLine(line string) (GCTraceLine, bool) {
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "gc" {
		return GCTraceLine{}, false
	}
	n, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return GCTraceLine{}, false
	}
	for i := 2; i+2 < len(f); i++ {
		if f[i+1] != "ms" || !strings.HasPrefix(f[i+2], "clock") {
			continue
		}
		parts := strings.Split(f[i], "+")
		if len(parts) != 3 {
			return GCTraceLine{}, false
		}
		var ns [3]uint64
		for j, p := range parts {
			ms, err := strconv.ParseFloat(p, 64)
			if err != nil {
				return GCTraceLine{}, false
			}
			ns[j] = uint64(ms*1e6 + 0.5)
		}
		return GCTraceLine{N: n, SweepTermNs: ns[0], MarkNs: ns[1], MarkTermNs: ns[2]}, true
	}
	return GCTraceLine{}, false
}

// CaptureGCTrace starts reading this process's gctrace lines (see the file's comment). It
// re-executes the program if it must, so it has to be called before anything else happens.
func CaptureGCTrace() (*GCTrace, error) {
	forward := os.Getenv(capturedEnv)
	if forward == "" {
		godebug := os.Getenv("GODEBUG")
		if gctraceOn(godebug) {
			forward = "1"
		} else {
			exe, err := os.Executable()
			if err != nil {
				return nil, fmt.Errorf("cannot find this program to re-run it with gctrace=1: %w", err)
			}
			if godebug != "" {
				godebug += ","
			}
			var env []string
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "GODEBUG=") {
					env = append(env, kv)
				}
			}
			env = append(env, "GODEBUG="+godebug+"gctrace=1", capturedEnv+"=0")
			err = syscall.Exec(exe, os.Args, env)
			return nil, fmt.Errorf("cannot re-run %s with gctrace=1: %w", exe, err)
		}
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	saved, err := syscall.Dup(2)
	if err != nil {
		return nil, err
	}
	if err := syscall.Dup3(int(w.Fd()), 2, 0); err != nil {
		return nil, err
	}
	w.Close()
	out := os.NewFile(uintptr(saved), "/dev/stderr")
	// The old os.Stderr's finalizer would close descriptor 2, the pipe's end: keep it.
	oldStderr = os.Stderr
	os.Stderr = out
	_ = debug.SetCrashOutput(out, debug.CrashOptions{})
	t := &GCTrace{lines: map[uint64]GCTraceLine{}}
	t.cond = sync.NewCond(&t.mu)
	go func() {
		s := bufio.NewScanner(r)
		for s.Scan() {
			l, ok := ParseGCTraceLine(s.Text())
			if ok {
				t.mu.Lock()
				t.lines[l.N] = l
				t.cond.Broadcast()
				t.mu.Unlock()
			}
			if !ok || forward == "1" {
				fmt.Fprintln(out, s.Text())
			}
		}
		t.mu.Lock()
		t.done = true
		t.cond.Broadcast()
		t.mu.Unlock()
	}()
	return t, nil
}

// Wait returns the gctrace line of cycle n, waiting up to timeout for the runtime to print it.
func (t *GCTrace) Wait(n uint64, timeout time.Duration) (GCTraceLine, error) {
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() {
		t.mu.Lock()
		t.cond.Broadcast()
		t.mu.Unlock()
	})
	defer timer.Stop()
	t.mu.Lock()
	defer t.mu.Unlock()
	for {
		if l, ok := t.lines[n]; ok {
			return l, nil
		}
		if t.done || time.Now().After(deadline) {
			return GCTraceLine{}, fmt.Errorf("no gctrace line for cycle %d within %v", n, timeout)
		}
		t.cond.Wait()
	}
}
