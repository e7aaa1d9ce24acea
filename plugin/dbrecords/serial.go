package dbrecords

import (
	"slices"
	"sort"
)

// serialRule is the one rule for SOA serials. A zone's serial is a number of
// the change log (modulo 2^32, RFC 1982): that of its last change at or below
// the tracker's watermark, or the last epoch mark the watermark passed,
// whichever is higher. Every replica that has seen the same change log
// reports the same serial, whatever order it read the entries in; it does
// not move while the zone's entries do not (but at an epoch mark), and waits
// (at most gapTimeout) for a transaction that holds an earlier number.
//
// The epoch marks (every 2^30 numbers: the log is shared by every zone of
// the table) keep a quiet zone's serial within reach of the log, so that no
// step is 2^31 or more, which secondaries would take for a step back.
//
// Three events raise a serial by one rather than to a number of the log: a
// change committed so late that the watermark had passed its number (a gap
// that outlived gapTimeout), when its number is not above the serial already,
// a reload that changes what every answer holds (ttl, ns, negative_ttl), and
// a full re-read that finds data the log did not tell of (a TRUNCATE).
// None can be seen in the log, so a replica started later
// does not count them: it reports the serial of the log until the zone's next
// change (docs/operations.md).
type serialRule struct {
	last    []uint64     // by zone index: the number the serial is taken from
	pending []zoneChange // changes above the watermark, by sequence number
}

// epochBits: a zone's serial is at least the watermark rounded down to a
// multiple of 2^epochBits.
const epochBits = 30

// epochMark is the last epoch mark at or below watermark.
func epochMark(watermark uint64) uint64 { return watermark &^ (1<<epochBits - 1) }

type zoneChange struct {
	seq  uint64
	zone int
}

// serial returns zone zi's serial.
func (r *serialRule) serial(zi int) uint32 { return uint32(r.last[zi]) } //nolint:gosec // serials wrap (RFC 1982)

// raise moves zone zi's serial on for a change numbered seq: to seq, or by
// one when the serial is there already (a late change, or one after a bump).
func (r *serialRule) raise(zi int, seq uint64) { r.last[zi] = max(r.last[zi]+1, seq) }

// add records a change to zone zi that was news in a poll. A change at or
// below the watermark filled a gap that had stopped holding the serial back:
// it raises the serial at once.
func (r *serialRule) add(seq uint64, zi int, watermark uint64) {
	if seq <= watermark {
		r.raise(zi, seq)
		return
	}
	i := sort.Search(len(r.pending), func(i int) bool { return r.pending[i].seq > seq })
	r.pending = slices.Insert(r.pending, i, zoneChange{seq, zi})
}

// advance moves every pending change at or below watermark into the serials,
// and every serial to the watermark's epoch mark.
func (r *serialRule) advance(watermark uint64) {
	n := 0
	for _, c := range r.pending {
		if c.seq > watermark {
			break
		}
		r.raise(c.zone, c.seq)
		n++
	}
	r.pending = r.pending[n:]
	r.mark(watermark)
}

// mark moves every serial to the watermark's epoch mark if it is below.
func (r *serialRule) mark(watermark uint64) {
	for zi := range r.last {
		r.last[zi] = max(r.last[zi], epochMark(watermark))
	}
}

// bump raises every serial by one: what every answer holds changed without
// a change in the table.
func (r *serialRule) bump() {
	for zi := range r.last {
		r.last[zi]++
	}
}

// serialLess reports whether a comes before b in RFC 1982 serial arithmetic.
func serialLess(a, b uint32) bool { return a != b && int32(b-a) > 0 } //nolint:gosec // the RFC 1982 comparison
