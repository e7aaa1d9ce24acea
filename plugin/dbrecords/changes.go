package dbrecords

import (
	"slices"
	"sort"
	"time"
)

// gapTimeout is how long a gap may hold the SOA serial back; after it, the gap
// is still watched, without holding the serial.
const gapTimeout = time.Minute

// gapGiveUp is how long a gap that cannot be proven dead is watched. A
// transaction open longer than that which then commits is healed by the
// next reconcile.
const gapGiveUp = time.Hour

// newSeriesLookback is how far below the cursor a residue class seen for the
// first time is searched for numbers taken by transactions still open.
const newSeriesLookback = 10000

// gap is a run of sequence numbers of one residue class that lie below the
// cursor and have not been seen: a writer's transaction that is still open
// holds them, or they will never be used (a rollback, a skipped number).
type gap struct {
	seqRange
	since    time.Time // when it was first seen
	blockers *writers  // write transactions open when it was first checked; nil before
	expired  bool      // older than gapTimeout; no longer holds the watermark
}

// tracker knows which change-log numbers have been seen. Numbers are taken
// when a writer's statement runs and become visible when its transaction
// commits, so they appear out of order; every number below the cursor that
// has not been seen is kept in a gap until it appears or is proven dead.
//
// A writer's numbers step by the server's auto_increment_increment (inc);
// each residue class (seq mod inc) is a series of its own (a Galera node, a
// multi-primary server). Where gaps can be proven dead every class is
// watched, and the proof disposes of the classes nobody uses; without a
// proof only classes seen in use have gaps. Gaps are ranges, so one
// transaction of a million rows is one gap.
type tracker struct {
	inc    uint64
	used   map[uint64]bool   // residue classes seen
	base   uint64            // where tracking started: numbers up to it count as seen
	cursor uint64            // highest number seen
	gaps   map[uint64][]*gap // by residue class, sorted, disjoint
}

// newTracker starts a tracker at cursor: numbers up to it count as seen.
// With all, every residue class counts as used from the start.
func newTracker(inc, cursor uint64, all bool) *tracker {
	t := &tracker{inc: max(inc, 1), used: map[uint64]bool{}, base: cursor, cursor: cursor, gaps: map[uint64][]*gap{}}
	for c := range t.inc {
		t.used[c] = all
	}
	return t
}

// clone returns a copy that can be changed without changing t.
func (t *tracker) clone() *tracker {
	c := newTracker(t.inc, t.cursor, false)
	c.base = t.base
	for k, u := range t.used {
		c.used[k] = u
	}
	for k, gs := range t.gaps {
		cs := make([]*gap, len(gs))
		for i, g := range gs {
			cg := *g
			cs[i] = &cg
		}
		c.gaps[k] = cs
	}
	return c
}

// see records that seq was read and reports whether it is news: above the
// cursor or filling a gap. An entry that is not news was applied already.
func (t *tracker) see(seq uint64, now time.Time) bool {
	class := seq % t.inc
	if !t.used[class] {
		// A series seen for the first time: its numbers that were not
		// looked for, this one included, may belong to transactions open
		// or committed just now.
		t.used[class] = true
		from := uint64(0)
		if t.cursor > newSeriesLookback {
			from = min(seq, t.watermark()+1, t.cursor-newSeriesLookback)
		}
		t.addGap(class, max(from, t.base+1), t.cursor, now)
	}
	if seq > t.cursor {
		for c, used := range t.used {
			if used {
				t.addGap(c, t.cursor+1, seq-1, now)
			}
		}
		t.cursor = seq
		return true
	}
	return t.fill(class, seq)
}

// addGap adds the numbers of class in [from, to] as a gap, joining the
// previous gap of the class when that was seen at the same moment.
func (t *tracker) addGap(class, from, to uint64, now time.Time) {
	if from > to {
		return
	}
	lo := from + (class+t.inc-from%t.inc)%t.inc
	if lo > to || lo < from {
		return
	}
	hi := lo + (to-lo)/t.inc*t.inc
	gs := t.gaps[class]
	if n := len(gs); n > 0 && gs[n-1].hi+t.inc == lo && gs[n-1].since.Equal(now) && gs[n-1].blockers == nil {
		gs[n-1].hi = hi
		return
	}
	t.gaps[class] = append(gs, &gap{seqRange: seqRange{lo, hi}, since: now})
}

// fill removes seq from the gap that holds it; false if none does.
func (t *tracker) fill(class, seq uint64) bool {
	gs := t.gaps[class]
	i := sort.Search(len(gs), func(i int) bool { return gs[i].hi >= seq })
	if i == len(gs) || gs[i].lo > seq {
		return false
	}
	g := gs[i]
	switch {
	case g.lo == g.hi:
		t.gaps[class] = slices.Delete(gs, i, i+1)
	case seq == g.lo:
		g.lo += t.inc
	case seq == g.hi:
		g.hi -= t.inc
	default:
		upper := *g
		upper.lo = seq + t.inc
		g.hi = seq - t.inc
		t.gaps[class] = slices.Insert(gs, i+1, &upper)
	}
	return true
}

// hasGaps reports whether any number is waiting.
func (t *tracker) hasGaps() bool {
	for _, gs := range t.gaps {
		if len(gs) > 0 {
			return true
		}
	}
	return false
}

// ranges returns every gap, to be read again: its residue class (for inc
// above 1) and its range.
func (t *tracker) ranges() []classRange {
	var out []classRange
	for c, gs := range t.gaps {
		for _, g := range gs {
			out = append(out, classRange{seqRange: g.seqRange, inc: t.inc, class: c})
		}
	}
	return out
}

// forget drops every gap number below below: the prune deleted the log
// there, and a full read covered what was committed.
func (t *tracker) forget(below uint64) {
	for c, gs := range t.gaps {
		kept := gs[:0]
		for _, g := range gs {
			if g.hi < below {
				continue
			}
			for g.lo < below {
				g.lo += t.inc
			}
			kept = append(kept, g)
		}
		t.gaps[c] = kept
	}
	if t.cursor < below {
		t.cursor = below - 1
	}
}

// watermark returns the highest number at and below which every number has
// been seen, proven dead or waited for longer than gapTimeout.
func (t *tracker) watermark() uint64 {
	w := t.cursor
	for _, gs := range t.gaps {
		for _, g := range gs {
			if !g.expired && g.lo <= w {
				w = g.lo - 1
			}
		}
	}
	return w
}

// lowest returns the lowest number not yet seen or proven dead.
func (t *tracker) lowest() uint64 {
	l := t.cursor + 1
	for _, gs := range t.gaps {
		if len(gs) > 0 && gs[0].lo < l {
			l = gs[0].lo
		}
	}
	return l
}

// waiting returns how many numbers are in gaps and when the oldest gap was seen.
func (t *tracker) waiting() (n uint64, oldest time.Time) {
	for _, gs := range t.gaps {
		for _, g := range gs {
			n += (g.hi-g.lo)/t.inc + 1
			if oldest.IsZero() || g.since.Before(oldest) {
				oldest = g.since
			}
		}
	}
	return n, oldest
}

// settled is what settle did.
type settled struct {
	dead, expired, given int // gaps proven dead, newly past gapTimeout, given up without proof
}

// settle runs after a poll that read every gap again. open is what the
// server said about its write transactions at the start of that poll (nil
// without proof), polled is when the poll started.
//
// The proof: every number below open.frontier had been taken, or passed
// over, when open was taken, so a transaction holding one had started then,
// and open holds it if it was still running. Once none of a gap's blockers
// (the open set first taken after the gap was seen and once its numbers lay
// below the frontier) is open any more, each has committed or rolled back,
// and a commit would have shown in the read that followed. So a gap whose
// blockers are all gone is dead.
func (t *tracker) settle(open *writers, polled, now time.Time) settled {
	var s settled
	for class, gs := range t.gaps {
		var kept []*gap
		for _, g := range gs {
			for _, g := range t.block(g, open, polled) {
				if g.blockers != nil && disjoint(g.blockers, open) {
					s.dead++
					continue
				}
				age := now.Sub(g.since)
				if open == nil && age > gapGiveUp {
					s.given++
					continue
				}
				if age > gapTimeout && !g.expired {
					g.expired = true
					s.expired++
				}
				kept = append(kept, g)
			}
		}
		t.gaps[class] = kept
	}
	return s
}

// block gives g the blockers of open where it has none yet: the part of g
// below open's frontier gets them, the rest waits for a later poll.
func (t *tracker) block(g *gap, open *writers, polled time.Time) []*gap {
	if open == nil || g.blockers != nil || !g.since.Before(polled) || g.lo >= open.frontier {
		return []*gap{g}
	}
	if g.hi < open.frontier {
		g.blockers = open
		return []*gap{g}
	}
	upper := *g
	upper.lo = g.lo + (open.frontier-g.lo+t.inc-1)/t.inc*t.inc
	g.hi = upper.lo - t.inc
	g.blockers = open
	return []*gap{g, &upper}
}

// disjoint reports whether no transaction of a is in b (nil: no proof).
func disjoint(a, b *writers) bool {
	if b == nil {
		return false
	}
	if a == b {
		return len(a.ids) == 0
	}
	for id := range a.ids {
		if _, ok := b.ids[id]; ok {
			return false
		}
	}
	return true
}
