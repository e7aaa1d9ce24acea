package store

import (
	"fmt"
	"math/rand"
	"net/netip"
	"slices"
	"testing"
	"unsafe"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/records"
)

// v4 is an A record for 192.0.2.last with TTL 60.
func v4(last int) records.Record {
	return records.AddrRecord(netip.AddrFrom4([4]byte{192, 0, 2, byte(last)}), 60) //nolint:gosec // wraps on purpose
}

// model is what a snapshot must hold: records per name.
type model map[string][]records.Record

// check compares s with m: every name with records, every empty non-terminal
// above them, and nothing else.
func (m model) check(t *testing.T, s *Snapshot) {
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
	if s.Names != len(want) || s.Records != recs {
		t.Fatalf("Expected %d names and %d records, got %d and %d", len(want), recs, s.Names, s.Records)
	}
	for name, hasRecs := range want {
		e, ok := s.Get(name)
		if !ok {
			t.Fatalf("Expected %q to exist, got nothing", name)
		}
		if got := e.Records(); !slices.Equal(got, m[name]) {
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

func randomRecords(r *rand.Rand) []records.Record {
	var recs []records.Record
	for i := r.Intn(3); i > 0; i-- {
		recs, _ = records.AddRecord(recs, v4(r.Intn(4)))
	}
	return recs
}

func TestBuilderMatchesModel(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	m := model{}
	snap := NewFullBuilder(0, nil).Finish()
	for range 200 {
		old := snap
		oldNames, oldRecords := old.Names, old.Records
		b := NewBuilder(snap)
		for range r.Intn(20) {
			name, recs := randomName(r), randomRecords(r)
			m[name] = recs
			b.Set(name, "example.org.", recs)
		}
		snap = b.Finish()
		m.check(t, snap)
		if old.Names != oldNames || old.Records != oldRecords {
			t.Fatalf("Expected the previous snapshot to stay unchanged, got %d names instead of %d", old.Names, oldNames)
		}
	}
	// Deleting everything leaves nothing, empty non-terminals included.
	b := NewBuilder(snap)
	for name := range m {
		b.Set(name, "example.org.", nil)
	}
	if s := b.Finish(); s.Names != 0 || s.Records != 0 || s.wildcards != 0 {
		t.Errorf("Expected an empty snapshot, got %d names, %d records, %d wildcards", s.Names, s.Records, s.wildcards)
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
	b := NewFullBuilder(0, nil)
	for i := range 5000 {
		b.Add(fmt.Sprintf("app-%d.example.org.", i), "example.org.", v4(1))
	}
	s := b.Finish()
	if s.Buckets() < 5000/loadFactor {
		t.Errorf("Expected at least %d buckets for 5000 names, got %d", 5000/loadFactor, s.Buckets())
	}
	for i := range 5000 {
		if e, ok := s.Get(fmt.Sprintf("app-%d.example.org.", i)); !ok || e.Count() != 1 {
			t.Fatalf("Expected app-%d to have one record, got %v", i, e)
		}
	}
}

// TestBatchSharesUntouchedPages checks the copy-on-write claim: a batch of one
// change leaves every other page shared with the previous snapshot.
func TestBatchSharesUntouchedPages(t *testing.T) {
	b := NewFullBuilder(0, nil)
	for i := range 20000 {
		b.Add(fmt.Sprintf("app-%d.example.org.", i), "example.org.", v4(1))
	}
	old := b.Finish()
	nb := NewBuilder(old)
	nb.Set("app-7.example.org.", "example.org.", []records.Record{v4(2)})
	s := nb.Finish()
	copied := 0
	for i := range s.pages {
		if unsafe.StringData(s.pages[i]) != unsafe.StringData(old.pages[i]) {
			copied++
		}
	}
	if copied != 1 {
		t.Errorf("Expected one page copied for one change, got %d of %d", copied, len(s.pages))
	}
	if e, _ := old.Get("app-7.example.org."); e.Records()[0] != v4(1) {
		t.Errorf("Expected the old snapshot to keep 192.0.2.1, got %v", e.Records()[0])
	}
}

// TestBytesPerName: the pages of a snapshot of A-only names, each with one
// address, hold at most 30 bytes per name, their offsets included (the
// issue's target for live data).
func TestBytesPerName(t *testing.T) {
	const n = 200000
	zones := []Version{{Zone: &records.Zone{Name: "example.com."}}}
	b := NewFullBuilder(n, zones)
	for i := range n {
		b.Add(fmt.Sprintf("app-%d.example.com.", 100000+i), "example.com.", v4(i))
	}
	s := b.Finish()
	size := s.Size()
	if per := float64(size) / n; per > 30 {
		t.Errorf("Expected at most 30 bytes per name, got %.1f", per)
	} else {
		t.Logf("%.1f bytes per name", per)
	}
}

// TestRRsetsPacked: records of one type form one RRset with the lowest TTL,
// in the order their types first came, whatever order they are set in.
func TestRRsetsPacked(t *testing.T) {
	txt := func(s string, ttl uint32) records.Record {
		return records.Record{Type: 16, TTL: ttl, Data: string(rune(len(s))) + s}
	}
	a := v4(1)
	a.TTL = 30
	recs := []records.Record{v4(2), txt("x", 300), a, txt("yz", 100)}
	b := NewFullBuilder(0, nil)
	b.Set("n.example.org.", "example.org.", recs)
	s := b.Finish()
	e, ok := s.Get("n.example.org.")
	if !ok {
		t.Fatal("Expected n.example.org. to exist")
	}
	a2 := v4(2)
	a2.TTL = 30
	want := []records.Record{a2, a, txt("x", 100), txt("yz", 100)}
	if got := e.Records(); !slices.Equal(got, want) {
		t.Errorf("Expected %v, got %v", want, got)
	}
	if e.Count() != 4 || !e.Has(16) || e.Has(28) || len(e.RRs("n.example.org.", 1)) != 2 || e.WireSize(16) != 2*12+2+3 {
		t.Errorf("Expected 4 records, TXT, no AAAA, two A and TXT of 29 bytes, got %d, %v, %v, %d, %d", e.Count(), e.Has(16), e.Has(28), len(e.RRs("n.example.org.", 1)), e.WireSize(16))
	}
}
