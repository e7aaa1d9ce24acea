package source

import (
	"cmp"
	"slices"
	"sort"
	"time"
)

// GapTimeout is how long a gap may hold the SOA serial back; after it, the gap
// is still watched, without holding the serial.
const GapTimeout = time.Minute

// GapGiveUp is how long a gap that cannot be proven dead is watched. A
// transaction open longer than that which then commits is healed by the
// next reconcile.
const GapGiveUp = time.Hour

// newSeriesLookback is how far below the cursor a residue class seen for the
// first time is searched for numbers taken by transactions still open.
const newSeriesLookback = 10000

// gap is a run of sequence numbers of one residue class that lie below the
// cursor and have not been seen: a writer's transaction that is still open
// holds them, or they will never be used (a rollback, a skipped number).
type gap struct {
	seqRange
	since    time.Time // when it was first seen
	blockers *Writers  // write transactions open when it was first checked; nil before
	expired  bool      // older than gapTimeout; no longer holds the watermark
}

// Tracker knows which change-log numbers have been seen. Numbers are taken
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
type Tracker struct {
	inc    uint64
	used   map[uint64]bool   // residue classes seen
	base   uint64            // where tracking started: numbers up to it count as seen
	Cursor uint64            // highest number seen
	gaps   map[uint64][]*gap // by residue class, sorted, disjoint
}

// NewTracker starts a tracker at cursor: numbers up to it count as seen.
// With all, every residue class counts as used from the start.
func NewTracker(inc, cursor uint64, all bool) *Tracker {
	t := &Tracker{inc: max(inc, 1), used: map[uint64]bool{}, base: cursor, Cursor: cursor, gaps: map[uint64][]*gap{}}
	for c := range t.inc {
		t.used[c] = all
	}
	return t
}

// Inc is the auto_increment_increment t steps by.
func (t *Tracker) Inc() uint64 { return t.inc }

// Clone returns a copy that can be changed without changing t.
func (t *Tracker) Clone() *Tracker {
	c := NewTracker(t.inc, t.Cursor, false)
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

// See records that seq was read and reports whether it is news: above the
// cursor or filling a gap. An entry that is not news was applied already.
func (t *Tracker) See(seq uint64, now time.Time) bool {
	class := seq % t.inc
	if !t.used[class] {
		// A series seen for the first time: its numbers that were not
		// looked for, this one included, may belong to transactions open
		// or committed just now.
		t.used[class] = true
		from := uint64(0)
		if t.Cursor > newSeriesLookback {
			from = min(seq, t.Watermark()+1, t.Cursor-newSeriesLookback)
		}
		t.addGap(class, max(from, t.base+1), t.Cursor, now)
	}
	if seq > t.Cursor {
		for c, used := range t.used {
			if used {
				t.addGap(c, t.Cursor+1, seq-1, now)
			}
		}
		t.Cursor = seq
		return true
	}
	return t.fill(class, seq)
}

// addGap adds the numbers of class in [from, to] as a gap, joining the
// previous gap of the class when that was seen at the same moment.
func (t *Tracker) addGap(class, from, to uint64, now time.Time) {
	if from > to {
		return
	}
	lo := from + (class+t.inc-from%t.inc)%t.inc
	if lo > to || lo < from {
		return
	}
	hi := lo + (to-lo)/t.inc*t.inc
	gs := t.gaps[class]
	if n := len(gs); n > 0 && gs[n-1].Hi+t.inc == lo && gs[n-1].since.Equal(now) && gs[n-1].blockers == nil {
		gs[n-1].Hi = hi
		return
	}
	t.gaps[class] = append(gs, &gap{seqRange: seqRange{lo, hi}, since: now})
}

// fill removes seq from the gap that holds it; false if none does.
func (t *Tracker) fill(class, seq uint64) bool {
	gs := t.gaps[class]
	i := sort.Search(len(gs), func(i int) bool { return gs[i].Hi >= seq })
	if i == len(gs) || gs[i].Lo > seq {
		return false
	}
	g := gs[i]
	switch {
	case g.Lo == g.Hi:
		t.gaps[class] = slices.Delete(gs, i, i+1)
	case seq == g.Lo:
		g.Lo += t.inc
	case seq == g.Hi:
		g.Hi -= t.inc
	default:
		upper := *g
		upper.Lo = seq + t.inc
		g.Hi = seq - t.inc
		t.gaps[class] = slices.Insert(gs, i+1, &upper)
	}
	return true
}

// HasGaps reports whether any number is waiting.
func (t *Tracker) HasGaps() bool {
	for _, gs := range t.gaps {
		if len(gs) > 0 {
			return true
		}
	}
	return false
}

// Ranges returns every gap, to be read again: its residue class (for inc
// above 1) and its range.
func (t *Tracker) Ranges() []ClassRange {
	var out []ClassRange
	for c, gs := range t.gaps {
		for _, g := range gs {
			out = append(out, ClassRange{seqRange: g.seqRange, Inc: t.inc, Class: c})
		}
	}
	return out
}

// Forget drops every gap number below below: the prune deleted the log
// there, and a full read covered what was committed.
func (t *Tracker) Forget(below uint64) {
	for c, gs := range t.gaps {
		kept := gs[:0]
		for _, g := range gs {
			if g.Hi < below {
				continue
			}
			for g.Lo < below {
				g.Lo += t.inc
			}
			kept = append(kept, g)
		}
		t.gaps[c] = kept
	}
	if t.Cursor < below {
		t.Cursor = below - 1
	}
}

// ExpireBelow marks every gap below seq as expired (it no longer holds the
// watermark; it is still watched, and given up on its own clock), and
// returns how many it marked. A replica that starts sees every gap for the
// first time; those below a change-log entry written longer than the gap
// timeout ago were there for the running replicas too, which expired them
// long ago.
func (t *Tracker) ExpireBelow(seq uint64) int {
	n := 0
	for _, gs := range t.gaps {
		for _, g := range gs {
			if !g.expired && g.Hi < seq {
				g.expired = true
				n++
			}
		}
	}
	return n
}

// Waits reports whether seq is in a gap: not seen yet, below the cursor.
func (t *Tracker) Waits(seq uint64) bool {
	gs := t.gaps[seq%t.inc]
	i := sort.Search(len(gs), func(i int) bool { return gs[i].Hi >= seq })
	return i < len(gs) && gs[i].Lo <= seq
}

// Watermark returns the highest number at and below which every number has
// been seen, proven dead or waited for longer than gapTimeout.
func (t *Tracker) Watermark() uint64 {
	w := t.Cursor
	for _, gs := range t.gaps {
		for _, g := range gs {
			if !g.expired && g.Lo <= w {
				w = g.Lo - 1
			}
		}
	}
	return w
}

// Lowest returns the lowest number not yet seen or proven dead.
func (t *Tracker) Lowest() uint64 {
	l := t.Cursor + 1
	for _, gs := range t.gaps {
		if len(gs) > 0 && gs[0].Lo < l {
			l = gs[0].Lo
		}
	}
	return l
}

// Waiting returns how many numbers are in gaps and when the oldest gap was seen.
func (t *Tracker) Waiting() (n uint64, oldest time.Time) {
	for _, gs := range t.gaps {
		for _, g := range gs {
			n += (g.Hi-g.Lo)/t.inc + 1
			if oldest.IsZero() || g.since.Before(oldest) {
				oldest = g.since
			}
		}
	}
	return n, oldest
}

// Settled is what settle did.
type Settled struct {
	dead, Expired, Given int // gaps proven dead, newly past gapTimeout, given up without proof
}

// Settle runs after a poll that read every gap again. open is what the
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
func (t *Tracker) Settle(open *Writers, polled, now time.Time) Settled {
	var s Settled
	for class, gs := range t.gaps {
		var kept []*gap
		for _, g := range gs {
			for _, g := range t.block(g, open, polled) {
				if g.blockers != nil && disjoint(g.blockers, open) {
					s.dead++
					continue
				}
				age := now.Sub(g.since)
				if open == nil && age > GapGiveUp {
					s.Given++
					continue
				}
				if age > GapTimeout && !g.expired {
					g.expired = true
					s.Expired++
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
func (t *Tracker) block(g *gap, open *Writers, polled time.Time) []*gap {
	if open == nil || g.blockers != nil || !g.since.Before(polled) || g.Lo >= open.Frontier {
		return []*gap{g}
	}
	if g.Hi < open.Frontier {
		g.blockers = open
		return []*gap{g}
	}
	upper := *g
	upper.Lo = g.Lo + (open.Frontier-g.Lo+t.inc-1)/t.inc*t.inc
	g.Hi = upper.Lo - t.inc
	g.blockers = open
	return []*gap{g, &upper}
}

// disjoint reports whether no transaction of a is in b (nil: no proof).
func disjoint(a, b *Writers) bool {
	if b == nil {
		return false
	}
	if a == b {
		return len(a.IDs) == 0
	}
	for id := range a.IDs {
		if _, ok := b.IDs[id]; ok {
			return false
		}
	}
	return true
}

// TrackerState is what a Tracker knows, in a form that survives a restart
// (a snapshot file): a Tracker restored from it reads the change log on
// from where this one was, with the same gaps.
type TrackerState struct {
	Inc    uint64     `json:"inc"`
	Base   uint64     `json:"base"`
	Cursor uint64     `json:"cursor"`
	Used   []uint64   `json:"used"` // residue classes in use
	Gaps   []GapState `json:"gaps"`
}

// GapState is one gap of a TrackerState.
type GapState struct {
	Class   uint64    `json:"class"`
	Lo      uint64    `json:"lo"`
	Hi      uint64    `json:"hi"`
	Since   time.Time `json:"since"`
	Expired bool      `json:"expired"`
}

// State returns what t knows. The write transactions a gap was checked
// against are not kept: a restored gap is checked again.
func (t *Tracker) State() TrackerState {
	st := TrackerState{Inc: t.inc, Base: t.base, Cursor: t.Cursor}
	for c, u := range t.used {
		if u {
			st.Used = append(st.Used, c)
		}
	}
	slices.Sort(st.Used)
	for c, gs := range t.gaps {
		for _, g := range gs {
			st.Gaps = append(st.Gaps, GapState{Class: c, Lo: g.Lo, Hi: g.Hi, Since: g.since, Expired: g.expired})
		}
	}
	slices.SortFunc(st.Gaps, func(a, b GapState) int { return cmp.Compare(a.Lo, b.Lo) })
	return st
}

// RestoreTracker returns the Tracker st describes, or false when st is not
// one that State could have made.
func RestoreTracker(st TrackerState) (*Tracker, bool) {
	if st.Inc == 0 || st.Inc > 1<<16 || st.Base > st.Cursor {
		return nil, false
	}
	t := NewTracker(st.Inc, st.Cursor, false)
	t.base = st.Base
	for _, c := range st.Used {
		if c >= st.Inc {
			return nil, false
		}
		t.used[c] = true
	}
	for _, g := range st.Gaps {
		if g.Class >= st.Inc || g.Lo > g.Hi || g.Hi > st.Cursor || g.Lo%st.Inc != g.Class || g.Hi%st.Inc != g.Class {
			return nil, false
		}
		gs := t.gaps[g.Class]
		if n := len(gs); n > 0 && gs[n-1].Hi >= g.Lo {
			return nil, false // gaps of a class are sorted and disjoint
		}
		t.gaps[g.Class] = append(gs, &gap{seqRange: seqRange{g.Lo, g.Hi}, since: g.Since, expired: g.Expired})
	}
	return t, true
}
