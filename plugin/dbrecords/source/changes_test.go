package source

import (
	"math"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// seeAll feeds seqs to tr at now and returns those that were news.
func seeAll(tr *Tracker, now time.Time, seqs ...uint64) []uint64 {
	var news []uint64
	for _, s := range seqs {
		if tr.See(s, now) {
			news = append(news, s)
		}
	}
	return news
}

func TestTrackerBigTransactionIsOneGap(t *testing.T) {
	tr := NewTracker(1, 5, true)
	seeAll(tr, t0, 12006) // a concurrent writer commits after a transaction took 6..12005
	if n, _ := tr.Waiting(); n != 12000 {
		t.Fatalf("Expected 12000 numbers waiting, got %d", n)
	}
	if rs := tr.Ranges(); len(rs) != 1 || rs[0].seqRange != (seqRange{6, 12005}) {
		t.Fatalf("Expected one range 6-12005, got %v", rs)
	}
	if w := tr.Watermark(); w != 5 {
		t.Errorf("Expected the watermark to wait at 5, got %d", w)
	}
	for s := uint64(6); s <= 12005; s++ {
		if !tr.See(s, t0) {
			t.Fatalf("Expected %d to be news, got a duplicate", s)
		}
	}
	if n, _ := tr.Waiting(); n != 0 || tr.Watermark() != 12006 {
		t.Errorf("Expected no gap and watermark 12006, got %d waiting and %d", n, tr.Watermark())
	}
	if tr.See(100, t0) {
		t.Errorf("Expected a number seen twice not to be news")
	}
}

func TestTrackerSplitsGaps(t *testing.T) {
	tr := NewTracker(1, 0, true)
	seeAll(tr, t0, 10)
	seeAll(tr, t0, 5, 1, 9)
	want := []seqRange{{2, 4}, {6, 8}}
	got := tr.Ranges()
	if len(got) != len(want) || got[0].seqRange != want[0] || got[1].seqRange != want[1] {
		t.Fatalf("Expected gaps %v, got %v", want, got)
	}
	if tr.Watermark() != 1 || tr.Lowest() != 2 {
		t.Errorf("Expected watermark 1 and lowest 2, got %d and %d", tr.Watermark(), tr.Lowest())
	}
}

// TestTrackerResidueClasses: with auto_increment_increment 3 a single series
// leaves no gaps; a second series starting later has its unseen numbers
// since the watermark looked for.
func TestTrackerResidueClasses(t *testing.T) {
	tr := NewTracker(3, 0, false)
	seeAll(tr, t0, 1, 4, 7, 10, 13)
	if n, _ := tr.Waiting(); n != 0 || tr.Watermark() != 13 {
		t.Fatalf("Expected one series to leave no gaps, got %d waiting and watermark %d", n, tr.Watermark())
	}
	seeAll(tr, t0, 8) // series 2 shows up below the cursor: 2 and 5 and 11 may still come
	if got := tr.Ranges(); len(got) != 2 || got[0].seqRange != (seqRange{2, 5}) || got[1].seqRange != (seqRange{11, 11}) {
		t.Fatalf("Expected series-2 gaps 2-5 and 11, got %v", got)
	}
	if n, _ := tr.Waiting(); n != 3 {
		t.Errorf("Expected 3 numbers waiting (2, 5, 11), got %d", n)
	}
	seeAll(tr, t0, 16) // the cursor moves: series 2's 14 is a gap, series 1 has none
	if n, _ := tr.Waiting(); n != 4 {
		t.Errorf("Expected 4 numbers waiting, got %d", n)
	}
}

func writersOf(ids ...string) *Writers {
	w := &Writers{IDs: map[string]struct{}{}, Frontier: math.MaxUint64}
	for _, id := range ids {
		w.IDs[id] = struct{}{}
	}
	return w
}

// TestTrackerProof: a gap dies once every write transaction open at its first
// check has ended, and not before; a gap seen in this poll is not judged by
// this poll's set.
func TestTrackerProof(t *testing.T) {
	tr := NewTracker(1, 0, true)
	seeAll(tr, t0, 3) // 1 and 2 missing
	if s := tr.Settle(writersOf(), t0, t0); s.dead != 0 {
		t.Fatalf("Expected a gap seen during the poll to survive it, got %d dead", s.dead)
	}
	t1 := t0.Add(time.Second)
	if s := tr.Settle(writersOf("a", "b"), t1, t1); s.dead != 0 {
		t.Fatalf("Expected the gap to wait for a and b, got %d dead", s.dead)
	}
	t2 := t1.Add(time.Second)
	if s := tr.Settle(writersOf("b", "c"), t2, t2); s.dead != 0 {
		t.Fatalf("Expected the gap to wait for b, got %d dead", s.dead)
	}
	t3 := t2.Add(time.Second)
	if s := tr.Settle(writersOf("c"), t3, t3); s.dead != 1 {
		t.Fatalf("Expected the gap dead once a and b ended, got %d dead", s.dead)
	}
	if tr.Watermark() != 3 {
		t.Errorf("Expected watermark 3, got %d", tr.Watermark())
	}
}

// TestTrackerTimeout: past gapTimeout a gap stops holding the watermark but
// is still watched; without proof it is given up after gapGiveUp.
func TestTrackerTimeout(t *testing.T) {
	later := t0.Add(GapTimeout + time.Second)
	for _, proof := range []bool{true, false} {
		tr := NewTracker(1, 0, proof)
		seeAll(tr, t0, 3)
		open := writersOf("long")
		if !proof {
			open = nil
		}
		tr.Settle(open, t0.Add(time.Second), t0.Add(time.Second))
		if s := tr.Settle(open, later, later); s.Expired != 1 || s.dead != 0 || s.Given != 0 {
			t.Fatalf("Expected the gap to expire and stay (proof %v), got %+v", proof, s)
		}
		if tr.Watermark() != 3 || len(tr.Ranges()) != 1 {
			t.Fatalf("Expected watermark 3 with the gap still watched, got %d and %v", tr.Watermark(), tr.Ranges())
		}
		end := t0.Add(GapGiveUp + time.Second)
		s := tr.Settle(open, end, end)
		if given := s.Given == 1; given == proof {
			t.Fatalf("Expected the gap given up only without proof (proof %v), got %+v", proof, s)
		}
	}
	tr := NewTracker(1, 0, true)
	seeAll(tr, t0, 3)
	tr.Settle(writersOf("long"), later, later)
	if !tr.See(1, later) {
		t.Errorf("Expected a late commit in an expired gap to be news")
	}
}

// TestTrackerFrontier: numbers at or above the allocation frontier may still
// be taken by a transaction that starts later (a Galera node that has not
// applied the newer rows yet), so they get no blockers until the frontier
// passes them.
func TestTrackerFrontier(t *testing.T) {
	tr := NewTracker(1, 0, true)
	seeAll(tr, t0, 5) // 1-4 missing
	t1 := t0.Add(time.Second)
	open := writersOf()
	open.Frontier = 3
	if s := tr.Settle(open, t1, t1); s.dead != 1 {
		t.Fatalf("Expected the part below the frontier (1-2) dead, got %+v", s)
	}
	if rs := tr.Ranges(); len(rs) != 1 || rs[0].seqRange != (seqRange{3, 4}) {
		t.Fatalf("Expected 3-4 still waiting, got %v", rs)
	}
	t2 := t1.Add(time.Second)
	if s := tr.Settle(writersOf(), t2, t2); s.dead != 1 || tr.Watermark() != 5 {
		t.Errorf("Expected 3-4 dead once the frontier passed them, got %+v and watermark %d", s, tr.Watermark())
	}
}

func TestTrackerForget(t *testing.T) {
	tr := NewTracker(1, 0, true)
	seeAll(tr, t0, 10)
	tr.Forget(5)
	if rs := tr.Ranges(); len(rs) != 1 || rs[0].seqRange != (seqRange{5, 9}) {
		t.Errorf("Expected only 5-9 left, got %v", rs)
	}
	tr.Forget(20)
	if len(tr.Ranges()) != 0 || tr.Cursor != 19 {
		t.Errorf("Expected no gap and the cursor at 19, got %v and %d", tr.Ranges(), tr.Cursor)
	}
}

// TestTrackerStateRoundTrip: a tracker restored from its state goes on as
// the original does, gaps and all; states it could not have made are refused.
func TestTrackerStateRoundTrip(t *testing.T) {
	now := time.Unix(1700000000, 0)
	orig := NewTracker(2, 100, false)
	for _, seq := range []uint64{101, 105, 111, 112, 120} {
		orig.See(seq, now)
	}
	orig.ExpireBelow(106)
	st := orig.State()
	got, ok := RestoreTracker(st)
	if !ok {
		t.Fatalf("Expected the state to restore, got %+v", st)
	}
	if got.Watermark() != orig.Watermark() || got.Lowest() != orig.Lowest() || got.Cursor != orig.Cursor {
		t.Fatalf("Expected watermark %d, lowest %d, cursor %d, got %d, %d, %d", orig.Watermark(), orig.Lowest(), orig.Cursor, got.Watermark(), got.Lowest(), got.Cursor)
	}
	for _, seq := range []uint64{103, 107, 110, 121, 130} {
		if a, b := orig.See(seq, now), got.See(seq, now); a != b {
			t.Errorf("Expected the restored tracker to see %d as the original does (%v), got %v", seq, a, b)
		}
	}
	if a, b := orig.State(), got.State(); len(a.Gaps) != len(b.Gaps) || a.Cursor != b.Cursor {
		t.Errorf("Expected the same gaps after the same entries, got %+v and %+v", a, b)
	}
	for _, bad := range []TrackerState{
		{Inc: 0},
		{Inc: 1, Base: 5, Cursor: 4},
		{Inc: 2, Cursor: 10, Used: []uint64{2}},
		{Inc: 2, Cursor: 10, Gaps: []GapState{{Class: 1, Lo: 4, Hi: 6}}},
		{Inc: 1, Cursor: 10, Gaps: []GapState{{Lo: 4, Hi: 12}}},
		{Inc: 1, Cursor: 10, Gaps: []GapState{{Lo: 4, Hi: 6}, {Lo: 5, Hi: 7}}},
	} {
		if _, ok := RestoreTracker(bad); ok {
			t.Errorf("Expected state %+v refused", bad)
		}
	}
}
