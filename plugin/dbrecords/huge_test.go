//go:build huge

package dbrecords

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/records"
	"github.com/dbrecords/dbrecords/plugin/dbrecords/store"
)

// generatedSource is a table of n rows made up as they are read: app-<i>
// with an A row each and an AAAA row for every 4th, as `make bench` has.
// Everything else is the fake source's (an empty change log).
type generatedSource struct {
	*fakeSource
	n     int
	gen   int // which read this is: addresses change from one to the next
	touch int // rows of the second read with another address
}

func (g *generatedSource) Rows(ctx context.Context, keys []string, fn func(records.Row)) error {
	if keys != nil {
		return g.fakeSource.Rows(ctx, keys, fn)
	}
	g.generate(func(rows []records.Row) {
		for _, r := range rows {
			fn(r)
		}
	})
	return nil
}

func (g *generatedSource) ByName(_ context.Context, fn func([]records.Row)) error {
	g.generate(fn)
	return nil
}

// generate makes the table up, a name's rows at a time.
func (g *generatedSource) generate(fn func([]records.Row)) {
	g.gen++
	var name, addr []byte
	rows := make([]records.Row, 0, 2)
	for i := range g.n {
		name = append(strconv.AppendInt(append(name[:0], "app-"...), int64(i), 10), ".example.org"...)
		a := i
		if g.gen > 1 && i < g.touch {
			a += 7
		}
		addr = fmt.Appendf(addr[:0], "10.%d.%d.%d", byte(a>>16), byte(a>>8), byte(a))
		rows = append(rows[:0], records.Row{Name: string(name), Type: "A", Content: string(addr), TTLNull: true})
		if i%4 == 0 {
			addr = fmt.Appendf(addr[:0], "2001:db8::%x:%x", uint16(i>>16), uint16(i))
			rows = append(rows, records.Row{Name: rows[0].Name, Type: "AAAA", Content: string(addr), TTLNull: true})
		}
		fn(rows)
	}
}

func (g *generatedSource) Size(context.Context) int { return g.n + g.n/4 }

// status returns a field of /proc/self/status in MiB (VmRSS, VmHWM).
func status(t *testing.T, field string) int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return kb >> 10
		}
	}
	t.Fatalf("Expected %s in /proc/self/status", field)
	return 0
}

// TestHugeLoad loads DBRECORDS_HUGE_NAMES names (default 100 million)
// through the real full-read path from a generated source, reads them again
// with 1,000 changed (a reconcile), saves the snapshot file and loads it
// back, and reports time, memory (the peak RSS of each step its own) and
// bytes per name at each step. Run it
// with `make test-huge` (HUGE_NAMES=...); it needs about 8 GB at 100 M.
func TestHugeLoad(t *testing.T) {
	n := 100_000_000
	if v := os.Getenv("DBRECORDS_HUGE_NAMES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1000 {
			t.Fatalf("Expected DBRECORDS_HUGE_NAMES to be a number of at least 1000, got %q", v)
		}
	}
	src := &generatedSource{fakeSource: newFakeSource(), n: n, touch: 1000}
	tl := newTestLoader(src)
	var ms runtime.MemStats
	var allocated, allocs uint64
	report := func(what string, took time.Duration) {
		runtime.GC()
		runtime.ReadMemStats(&ms)
		t.Logf("%-28s %8s   heap in use %6d MiB   RSS %6d MiB   peak RSS %6d MiB   allocated %5.0f B, %4.1f allocations per name", what, took.Round(time.Millisecond),
			ms.HeapInuse>>20, status(t, "VmRSS"), status(t, "VmHWM"), float64(ms.TotalAlloc-allocated)/float64(n), float64(ms.Mallocs-allocs)/float64(n))
		allocated, allocs = ms.TotalAlloc, ms.Mallocs
		os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // the next step's peak is its own (Linux)
	}
	runtime.ReadMemStats(&ms)
	allocated, allocs = ms.TotalAlloc, ms.Mallocs
	start := time.Now()
	tl.load(t)
	report("first load", time.Since(start))
	snap := tl.cur
	if e, ok := snap.Get(fmt.Sprintf("app-%d.example.org.", n-1)); !ok || e.Count() != 1+boolToInt((n-1)%4 == 0) {
		t.Fatalf("Expected the last name loaded, got %v", e)
	}
	live := snap.Size()
	t.Logf("%d names, %d records: %d MiB of pages, %.1f bytes per name", snap.Names, snap.Records, live>>20, float64(live)/float64(snap.Names))

	start = time.Now()
	tl.reread(t, reasonReconcile)
	report("re-read, 1,000 names differ", time.Since(start))
	if got := tl.answer("app-3.example.org"); got != "10.0.0.10" {
		t.Errorf("Expected app-3 changed by the re-read to 10.0.0.10, got %s", got)
	}

	path := t.TempDir() + "/huge.snapshot"
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if err := tl.cur.Save(f, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	report(fmt.Sprintf("saved to a file, %d MiB", fi.Size()>>20), time.Since(start))
	tl.cur, snap = nil, nil
	runtime.GC()
	debug.FreeOSMemory() // what remains is what a process that starts from the file holds
	start = time.Now()
	f, err = os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	warm, _, err := store.Load(f, fi.Size(), tl.zones)
	if err != nil {
		t.Fatal(err)
	}
	report("loaded from the file", time.Since(start))
	if warm.Names != n+0 {
		t.Errorf("Expected %d names from the file, got %d", n, warm.Names)
	}
}

func boolToInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
