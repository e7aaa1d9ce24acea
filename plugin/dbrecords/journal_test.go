package dbrecords

import (
	"fmt"
	"net/netip"
	"testing"
)

// TestJournalDefaultBudget: the default budget keeps the last 10,000 changed
// names of a zone, each with 40 addresses, one change per step; one more
// step's worth of names beyond the budget evicts the oldest.
func TestJournalDefaultBudget(t *testing.T) {
	recs := make([]record, 40)
	for i := range recs {
		recs[i] = record{addr: netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), ttl: 60}
	}
	var h history
	for i := range 10000 {
		name := fmt.Sprintf("app-%d.example.org.", i)
		e := entry{data: pack(name, recs), nlen: uint16(len(name))}
		h = h.record(&step{from: uint32(i), to: uint32(i + 1), old: []entry{e}}, defaultJournal)
	}
	if got := h.since(0); got != 0 {
		t.Fatalf("Expected the default journal to hold 10,000 names of 40 addresses (from serial 0), got step %d, %d bytes", got, h.bytes)
	}
	if got := len(h.changedSince(0)); got != 10000 {
		t.Errorf("Expected 10,000 changed names, got %d", got)
	}
	for h.since(0) == 0 {
		n := len(h.steps)
		h = h.record(&step{from: uint32(n), to: uint32(n + 1), old: make([]entry, 100)}, defaultJournal)
	}
	if h.bytes > defaultJournal {
		t.Errorf("Expected the journal within its budget, got %d bytes", h.bytes)
	}
}

// TestJournalDirtyVersions: a serial that named two contents (a change that
// waited for the serial rule) is never answered incrementally.
func TestJournalDirtyVersions(t *testing.T) {
	var h history
	h = h.record(&step{from: 1, to: 1, old: []entry{{data: "a.", nlen: 2}}}, defaultJournal)
	h = h.record(&step{from: 1, to: 5}, defaultJournal)
	if got := h.since(1); got != -1 {
		t.Errorf("Expected serial 1 (two contents) to need the whole zone, got step %d", got)
	}
	if got := h.since(5); got != 2 {
		t.Errorf("Expected serial 5 to be answered from step 2, got %d", got)
	}
	h = h.record(&step{from: 5, to: 9}, 2*stepOverhead+entryOverhead+2) // evicts the first step
	if got := h.since(1); got != -1 || !h.dirtyBase {
		t.Errorf("Expected the evicted serial to stay dirty, got step %d, dirty %v", got, h.dirtyBase)
	}
}
