package dbrecords

import (
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/records"
	"github.com/dbrecords/dbrecords/plugin/dbrecords/source"
)

// reread reads the whole table again, a name at a time in name order, and
// compares each name with the snapshot being served as it comes: nothing
// but the names that differ is kept, so a re-read costs a bit per name
// beside the snapshot, never a second copy of it. What differs is
// published as one change batch (signed alone), which a secondary gets as
// one IXFR step; a re-read that finds nothing new changes nothing. Names
// the change log has news of since the cursor are left to the next poll,
// which brings their serials.
func (l *loader) reread(ctx context.Context, st source.LogState) error {
	cur := l.cur // only this goroutine publishes: it stays as it is
	marks := cur.NewMarks()
	invalid := map[string]int{}
	invalidN := 0
	diff := map[string][]records.Record{} // names that differ: their records now (none: gone)
	// Names read again by name after the scan: past MaxRecords (the
	// capped query gives them what a poll would), or whose rows did not
	// all come together (spelled apart: "App" and "app.", say).
	again := map[string]bool{}
	// Names not served whose rows all settled away (a DS without NS): a
	// later spelling of the name may hold what they needed.
	settled := map[string]bool{}
	note := func(key string, recs []records.Record) {
		if _, ok := diff[key]; ok || settled[key] {
			again[key] = true
			return
		}
		diff[key] = slices.Clone(recs)
	}
	var recs []records.Record
	err := l.src.ByName(ctx, func(rows []records.Row) {
		first := records.NameKey(rows[0].Name)
		recs = recs[:0]
		over, apart := false, false // past MaxRecords; spelled apart
		for _, r := range rows {
			key := records.NameKey(r.Name)
			if key != first {
				apart = true
				again[key] = true
			}
			over = over || r.Cut > 0 // rows left unread
			sr, reason := records.Parse(r, l.zones, l.ttl)
			if reason == records.Valid && !over {
				var ok bool
				if recs, ok = records.AddRecord(recs, sr.Rec); !ok {
					over = true
				}
			}
			if reason != records.Valid {
				invalid[key]++
				invalidN++
				l.skipped[reason]++
			}
		}
		key := first
		if over || apart || again[key] {
			again[key] = true
			return
		}
		var drops []records.Drop
		if recs, drops = records.Settle(recs); len(drops) > 0 {
			for _, dr := range drops {
				invalid[key] += dr.N
				invalidN += dr.N
				l.skipped[dr.Reason] += dr.N
			}
		}
		e, ok, twice := marks.Mark(key + ".")
		if !ok && len(recs) == 0 && len(drops) > 0 {
			settled[key] = true
		}
		switch {
		case twice: // its rows came apart
			again[key] = true
		case ok && !e.Empty():
			if !e.Holds(recs) {
				note(key, recs)
			}
		case len(recs) > 0:
			note(key, recs)
		}
	})
	if err != nil {
		return err
	}
	for e := range marks.Unmarked() {
		if !e.Empty() {
			note(strings.TrimSuffix(e.Name(), "."), nil) // no rows any more
		}
	}
	if len(again) > 0 {
		keys := slices.Sorted(maps.Keys(again))
		recs, err := l.readAgain(ctx, keys, invalid, &invalidN)
		if err != nil {
			return err
		}
		for _, k := range keys {
			delete(diff, k)
			if e, ok := cur.Get(k + "."); (ok && !e.Empty() && !e.Holds(recs[k])) || ((!ok || e.Empty()) && len(recs[k]) > 0) {
				diff[k] = recs[k]
			}
		}
	}
	// Names the log has news of since the cursor are the next poll's,
	// with their serials from the log.
	pending, err := l.pendingNames(ctx)
	if err != nil {
		return err
	}
	l.invalid, l.invalidN = invalid, invalidN
	l.track.Forget(st.PrunedBelow)
	l.pendingFull = ""
	var keys []string
	for k := range diff {
		if !pending[k] && l.zoneOf(k) >= 0 {
			keys = append(keys, k)
		}
	}
	if len(keys) > 0 {
		slices.Sort(keys)
		l.publishNames(keys, diff, true)
	}
	invalidRowsGauge.WithLabelValues(l.label).Set(float64(l.invalidN))
	log.Infof("Read the whole table %q again: %d names differed from what was served", l.table, len(keys))
	return nil
}
