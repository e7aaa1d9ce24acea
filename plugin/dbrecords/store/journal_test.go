package store

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/records"
)

// TestJournalDefaultBudget: the default budget keeps the last 10,000 changed
// names of a zone, each with 40 addresses, one change per step; one more
// step's worth of names beyond the budget evicts the oldest.
func TestJournalDefaultBudget(t *testing.T) {
	recs := make([]records.Record, 40)
	for i := range recs {
		recs[i] = records.AddrRecord(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), 60)
	}
	var h history
	for i := range 10000 {
		name := fmt.Sprintf("app-%d.example.org.", i)
		e := Entry{rel: name[:len(name)-len("example.org.")], zone: "example.org.", recs: string(packTo(nil, recs))}
		h = h.record(&Step{From: uint32(i), To: uint32(i + 1), Old: []Entry{e}}, DefaultJournal)
	}
	if got := h.Since(0); got != 0 {
		t.Fatalf("Expected the default journal to hold 10,000 names of 40 addresses (from serial 0), got step %d, %d bytes", got, h.bytes)
	}
	if got := len(h.ChangedSince(0)); got != 10000 {
		t.Errorf("Expected 10,000 changed names, got %d", got)
	}
	for h.Since(0) == 0 {
		n := len(h.steps)
		h = h.record(&Step{From: uint32(n), To: uint32(n + 1), Old: make([]Entry, 100)}, DefaultJournal)
	}
	if h.bytes > DefaultJournal {
		t.Errorf("Expected the journal within its budget, got %d bytes", h.bytes)
	}
}

// TestJournalDirtyVersions: a serial that named two contents (a change that
// waited for the serial rule) is never answered incrementally.
func TestJournalDirtyVersions(t *testing.T) {
	var h history
	h = h.record(&Step{From: 1, To: 1, Old: []Entry{{rel: "a."}}}, DefaultJournal)
	h = h.record(&Step{From: 1, To: 5}, DefaultJournal)
	if got := h.Since(1); got != -1 {
		t.Errorf("Expected serial 1 (two contents) to need the whole zone, got step %d", got)
	}
	if got := h.Since(5); got != 2 {
		t.Errorf("Expected serial 5 to be answered from step 2, got %d", got)
	}
	h = h.record(&Step{From: 5, To: 9}, 2*stepOverhead+entryOverhead+2) // evicts the first step
	if got := h.Since(1); got != -1 || !h.dirtyBase {
		t.Errorf("Expected the evicted serial to stay dirty, got step %d, dirty %v", got, h.dirtyBase)
	}
}
