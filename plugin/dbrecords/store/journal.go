package store

import "slices"

// The IXFR journal. Every snapshot carries, per zone, the steps that led to
// it: which names a sync changed and what their records were before. A
// transfer reads one snapshot, so the differences it sends and the data
// they lead to always agree. Steps are immutable and shared between
// snapshots; each new snapshot appends to its zone's list, which readers of
// older snapshots never look past.

// DefaultJournal is the byte budget of one zone's journal: at least 10,000
// changed names with up to 40 addresses each.
const DefaultJournal = 8 << 20

// Step is one sync's change to a zone: its serial went from from to to
// (equal when a change waits for the serial rule), and the names in old
// changed; old holds their entries as they were before (no records when the
// name was absent).
type Step struct {
	From, To uint32
	Old      []Entry
	size     int // bytes accounted to the journal
}

// stepOverhead and entryOverhead approximate the memory of a step and of one
// old entry beyond its data, for the byte budget.
const (
	stepOverhead  = 64
	entryOverhead = 88
)

// history is one zone's journal in a snapshot, oldest step first. The
// version before steps[0] is the oldest a client can be brought up to date
// from; dirtyBase says another content was served with its serial too (after
// a full read, or when the step evicted last kept the serial), so a client at
// that serial gets the whole zone.
type history struct {
	steps     []*Step
	bytes     int
	dirtyBase bool
	dead      int // evicted steps still held by the array steps shares
}

// record returns h with a step appended and the oldest steps evicted until
// it fits budget.
func (h history) record(st *Step, budget int) history {
	for _, e := range st.Old {
		st.size += len(e.rel) + len(e.recs) + entryOverhead
	}
	st.size += stepOverhead
	h.steps = append(h.steps, st)
	h.bytes += st.size
	n := 0
	for n < len(h.steps) && h.bytes > budget {
		h.bytes -= h.steps[n].size
		h.dirtyBase = h.steps[n].From == h.steps[n].To
		n++
	}
	if n > 0 {
		// Evicted steps stay in the array before steps[0]; copy the rest
		// once they outnumber it, so they can go.
		h.steps, h.dead = h.steps[n:], h.dead+n
		if h.dead > len(h.steps)+16 {
			h.steps, h.dead = slices.Clone(h.steps), 0
		}
	}
	return h
}

// Since returns the index of the step after which the zone was at serial,
// or -1 when the journal cannot bring a client at serial up to date: no
// version it holds has that serial, or more than one (they differ in
// content, and the client may have any of them).
func (h history) Since(serial uint32) int {
	if len(h.steps) == 0 {
		return -1
	}
	// Version i is the zone after i steps: version 0 has steps[0].from.
	found := -1
	if h.steps[0].From == serial {
		if h.dirtyBase {
			return -1 // other contents had this serial before
		}
		found = 0
	}
	for i, st := range h.steps {
		if st.To != serial {
			continue
		}
		if found >= 0 {
			return -1 // two contents had this serial
		}
		found = i + 1
	}
	return found
}

// ChangedSince returns every name changed by the steps from index i on, each
// once, with its entry as it was at the version before step i.
func (h history) ChangedSince(i int) []Entry {
	seen := map[string]bool{}
	var out []Entry
	for _, st := range h.steps[i:] {
		for _, e := range st.Old {
			if n := e.Name(); !seen[n] {
				seen[n] = true
				out = append(out, e)
			}
		}
	}
	return out
}
