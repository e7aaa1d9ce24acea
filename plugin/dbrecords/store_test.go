package dbrecords

import (
	"fmt"
	"math/rand"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

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
		if hasRecs != (e.count() > 0) || (hasRecs && e.count() != len(m[name])) {
			t.Fatalf("Expected %q to have %d records, got %d", name, len(m[name]), e.count())
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
		recs, _ = addRecord(recs, record{ip: [16]byte{192, 0, 2, byte(r.Intn(4))}, ttl: 60})
	}
	return recs
}

func TestBuilderMatchesModel(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	m := model{}
	snap := newFullBuilder(0, 1).finish(1)
	for round := range 200 {
		old := snap
		oldNames, oldRecords := old.names, old.records
		b := newBuilder(snap)
		for range r.Intn(20) {
			name, recs := randomName(r), randomRecords(r)
			m[name] = recs
			b.set(name, "example.org.", 0, recs)
		}
		snap = b.finish(uint32(round + 2))
		m.check(t, snap)
		if old.names != oldNames || old.records != oldRecords {
			t.Fatalf("Expected the previous snapshot to stay unchanged, got %d names instead of %d", old.names, oldNames)
		}
	}
	// Deleting everything leaves nothing, empty non-terminals included.
	b := newBuilder(snap)
	for name := range m {
		b.set(name, "example.org.", 0, nil)
	}
	if s := b.finish(1000); s.names != 0 || s.records != 0 || s.wildcards != 0 {
		t.Errorf("Expected an empty snapshot, got %d names, %d records, %d wildcards", s.names, s.records, s.wildcards)
	}
}

func TestBuilderGrows(t *testing.T) {
	b := newFullBuilder(0, 1)
	for i := range 5000 {
		b.add(fmt.Sprintf("app-%d.example.org.", i), "example.org.", 0, record{ip: [16]byte{192, 0, 2, 1}, ttl: 60})
	}
	s := b.finish(1)
	if s.buckets() < 5000/loadFactor {
		t.Errorf("Expected at least %d buckets for 5000 names, got %d", 5000/loadFactor, s.buckets())
	}
	for i := range 5000 {
		if e, ok := s.get(fmt.Sprintf("app-%d.example.org.", i)); !ok || e.count() != 1 {
			t.Fatalf("Expected app-%d to have one record, got %v", i, e)
		}
	}
}

func TestSerialIncreasesWithChanges(t *testing.T) {
	s := newFullBuilder(0, 2).finish(5)
	if s.serials[0] != 0 {
		t.Fatalf("Expected an untouched zone to keep serial 0, got %d", s.serials[0])
	}
	b := newBuilder(s)
	b.set("a.example.org.", "example.org.", 0, []record{{ttl: 60}})
	s2 := b.finish(5)
	if s2.serials[0] != 5 || s2.serials[1] != 0 {
		t.Fatalf("Expected serials [5 0], got %v", s2.serials)
	}
	b = newBuilder(s2)
	b.set("a.example.org.", "example.org.", 0, nil)
	if s3 := b.finish(5); s3.serials[0] != 6 {
		t.Errorf("Expected the serial to increase past 5 even with an old change number, got %d", s3.serials[0])
	}
}

// TestSnapshotSwapRace has one writer publishing snapshots while readers look
// names up; run with -race.
func TestSnapshotSwapRace(t *testing.T) {
	d := newTestPlugin(testRows)
	stop := readers(4, func() bool {
		s := d.snap.Load()
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
		b := newBuilder(d.snap.Load())
		name := fmt.Sprintf("app-%d.example.org.", i%10)
		var recs []record
		if i%3 != 0 {
			recs = []record{{ip: [16]byte{192, 0, 2, byte(i)}, ttl: 60}}
		}
		b.set(name, "example.org.", 0, recs)
		d.snap.Store(b.finish(uint32(i)))
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
	b := newFullBuilder(0, 1)
	for i := range 20000 {
		b.add(fmt.Sprintf("app-%d.example.org.", i), "example.org.", 0, record{ip: [16]byte{192, 0, 2, 1}, ttl: 60})
	}
	old := b.finish(1)
	nb := newBuilder(old)
	nb.set("app-7.example.org.", "example.org.", 0, []record{{ip: [16]byte{192, 0, 2, 2}, ttl: 60}})
	s := nb.finish(2)
	copied := 0
	for i := range s.pages {
		if s.pages[i] != old.pages[i] {
			copied++
		}
	}
	if copied != 1 {
		t.Errorf("Expected one page copied for one change, got %d of %d", copied, len(s.pages))
	}
	if e, _ := old.get("app-7.example.org."); e.records()[0].ip[3] != 1 {
		t.Errorf("Expected the old snapshot to keep 192.0.2.1, got %v", e.records()[0].ip[:4])
	}
}
