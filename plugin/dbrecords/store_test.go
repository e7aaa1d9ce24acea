package dbrecords

import (
	"fmt"
	"math/rand"
	"net/netip"
	"slices"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// v4 is an A record for 192.0.2.last with TTL 60.
func v4(last int) record {
	return record{addr: netip.AddrFrom4([4]byte{192, 0, 2, byte(last)}), ttl: 60} //nolint:gosec // wraps on purpose
}

// model is what a snapshot must hold: records per name.
type model map[string][]record

// check compares s with m: every name with records, every empty non-terminal
// above them, and nothing else.
func (m model) check(t *testing.T, s *snapshot) {
	t.Helper()
	want := map[string]bool{} // name → has records
	recs := 0
	for name, rs := range m {
		if len(rs) == 0 {
			continue
		}
		want[name] = true
		recs += len(rs)
		for p := parent(name); p != "example.org." && len(p) > len("example.org."); p = parent(p) {
			if _, ok := want[p]; !ok {
				want[p] = false
			}
		}
	}
	if s.names != len(want) || s.records != recs {
		t.Fatalf("Expected %d names and %d records, got %d and %d", len(want), recs, s.names, s.records)
	}
	for name, hasRecs := range want {
		e, ok := s.get(name)
		if !ok {
			t.Fatalf("Expected %q to exist, got nothing", name)
		}
		if got := e.records(); !slices.Equal(got, m[name]) {
			t.Fatalf("Expected %q to have records %v, got %v", name, m[name], got)
		}
		if !hasRecs && e.below <= 0 {
			t.Fatalf("Expected empty non-terminal %q to count names below it, got %d", name, e.below)
		}
	}
}

func randomName(r *rand.Rand) string {
	labels := []string{"a", "b", "c", "*"}
	name := "example.org."
	for depth := 1 + r.Intn(3); depth > 0; depth-- {
		name = labels[r.Intn(len(labels))] + "." + name
	}
	if name[0] == '*' || len(name) > 2 && name[2] == '*' {
		return "w" + name // a literal label, keeps '*' leftmost only for true wildcards
	}
	return name
}

func randomRecords(r *rand.Rand) []record {
	var recs []record
	for i := r.Intn(3); i > 0; i-- {
		recs, _ = addRecord(recs, v4(r.Intn(4)))
	}
	return recs
}

func TestBuilderMatchesModel(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	m := model{}
	snap := newFullBuilder(0, nil).finish()
	for range 200 {
		old := snap
		oldNames, oldRecords := old.names, old.records
		b := newBuilder(snap)
		for range r.Intn(20) {
			name, recs := randomName(r), randomRecords(r)
			m[name] = recs
			b.set(name, "example.org.", recs)
		}
		snap = b.finish()
		m.check(t, snap)
		if old.names != oldNames || old.records != oldRecords {
			t.Fatalf("Expected the previous snapshot to stay unchanged, got %d names instead of %d", old.names, oldNames)
		}
	}
	// Deleting everything leaves nothing, empty non-terminals included.
	b := newBuilder(snap)
	for name := range m {
		b.set(name, "example.org.", nil)
	}
	if s := b.finish(); s.names != 0 || s.records != 0 || s.wildcards != 0 {
		t.Errorf("Expected an empty snapshot, got %d names, %d records, %d wildcards", s.names, s.records, s.wildcards)
	}
}

// TestIndexHasNoCeiling: the bucket count keeps doubling past 2^24 (about
// 67 million names), where an earlier cap made every new name rehash.
func TestIndexHasNoCeiling(t *testing.T) {
	for _, names := range []int{1 << 26, 1 << 28, 1 << 32} {
		if got := bucketsFor(names); got < names/loadFactor {
			t.Errorf("Expected at least %d buckets for %d names, got %d", names/loadFactor, names, got)
		}
	}
}

func TestBuilderGrows(t *testing.T) {
	b := newFullBuilder(0, nil)
	for i := range 5000 {
		b.add(fmt.Sprintf("app-%d.example.org.", i), "example.org.", v4(1))
	}
	s := b.finish()
	if s.buckets() < 5000/loadFactor {
		t.Errorf("Expected at least %d buckets for 5000 names, got %d", 5000/loadFactor, s.buckets())
	}
	for i := range 5000 {
		if e, ok := s.get(fmt.Sprintf("app-%d.example.org.", i)); !ok || e.count() != 1 {
			t.Fatalf("Expected app-%d to have one record, got %v", i, e)
		}
	}
}

// TestSnapshotSwapRace has one writer publishing snapshots while readers look
// names up; run with -race.
func TestSnapshotSwapRace(t *testing.T) {
	d := newTestPlugin(fixtureRows())
	stop := readers(4, func() bool {
		s := d.snapshot()
		if e, ok := s.find("app-7.example.org.", "example.org."); ok {
			if rrs := e.rrs("app-7.example.org.", dns.TypeA); len(rrs) > 1 {
				t.Errorf("Expected at most one A record, got %d", len(rrs))
				return false
			}
		}
		if e, ok := s.get("www.example.org."); !ok || e.count() != 3 {
			t.Errorf("Expected www to keep its 3 records in every snapshot, got %v", e)
			return false
		}
		return true
	})
	for i := range 2000 {
		b := newBuilder(d.snapshot())
		name := fmt.Sprintf("app-%d.example.org.", i%10)
		var recs []record
		if i%3 != 0 {
			recs = []record{v4(i)}
		}
		b.set(name, "example.org.", recs)
		d.data.Load().Store(b.finish())
	}
	stop()
}

// readers runs read in n goroutines until it returns false or stop is called;
// stop waits for them.
func readers(n int, read func() bool) (stop func()) {
	var wg sync.WaitGroup
	done := make(chan struct{})
	for range n {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				if !read() {
					return
				}
			}
		})
	}
	return func() {
		close(done)
		wg.Wait()
	}
}

// TestBatchSharesUntouchedPages checks the copy-on-write claim: a batch of one
// change leaves every other page shared with the previous snapshot.
func TestBatchSharesUntouchedPages(t *testing.T) {
	b := newFullBuilder(0, nil)
	for i := range 20000 {
		b.add(fmt.Sprintf("app-%d.example.org.", i), "example.org.", v4(1))
	}
	old := b.finish()
	nb := newBuilder(old)
	nb.set("app-7.example.org.", "example.org.", []record{v4(2)})
	s := nb.finish()
	copied := 0
	for i := range s.pages {
		if s.pages[i] != old.pages[i] {
			copied++
		}
	}
	if copied != 1 {
		t.Errorf("Expected one page copied for one change, got %d of %d", copied, len(s.pages))
	}
	if e, _ := old.get("app-7.example.org."); e.records()[0].addr != v4(1).addr {
		t.Errorf("Expected the old snapshot to keep 192.0.2.1, got %v", e.records()[0].addr)
	}
}
