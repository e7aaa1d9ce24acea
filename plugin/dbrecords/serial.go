package dbrecords

import (
	"slices"
	"sort"
)

// serialRule is the one rule for SOA serials: a zone's serial is the
// sequence number (modulo 2^32, RFC 1982) of the last change to the zone at
// or below the tracker's watermark. Every replica that has seen the same
// change log reports the same serial, whatever order it read the entries in;
// it does not move while the zone's entries do not, and waits (at most
// gapTimeout) for a transaction that holds an earlier number.
type serialRule struct {
	last    []uint64     // by zone index: the number the serial is taken from
	pending []zoneChange // changes above the watermark, by sequence number
}

type zoneChange struct {
	seq  uint64
	zone int
}

// serial returns zone zi's serial.
func (r *serialRule) serial(zi int) uint32 { return uint32(r.last[zi]) } //nolint:gosec // serials wrap (RFC 1982)

// add records a change to zone zi that was news in a poll. A change at or
// below the watermark filled a gap that had stopped holding the serial back:
// it raises the serial at once, to the watermark or by one.
func (r *serialRule) add(seq uint64, zi int, watermark uint64) {
	if seq <= watermark {
		r.last[zi] = max(r.last[zi]+1, watermark)
		return
	}
	i := sort.Search(len(r.pending), func(i int) bool { return r.pending[i].seq > seq })
	r.pending = slices.Insert(r.pending, i, zoneChange{seq, zi})
}

// advance moves every pending change at or below watermark into the serials.
func (r *serialRule) advance(watermark uint64) {
	n := 0
	for _, c := range r.pending {
		if c.seq > watermark {
			break
		}
		r.last[c.zone] = max(r.last[c.zone], c.seq)
		n++
	}
	r.pending = r.pending[n:]
}

// serialLess reports whether a comes before b in RFC 1982 serial arithmetic.
func serialLess(a, b uint32) bool { return a != b && int32(b-a) > 0 } //nolint:gosec // the RFC 1982 comparison
