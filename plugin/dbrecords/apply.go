package dbrecords

import (
	"context"
	"slices"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/records"
	"github.com/dbrecords/dbrecords/plugin/dbrecords/source"
	"github.com/dbrecords/dbrecords/plugin/dbrecords/store"
)

// full reads the whole table into a new snapshot. The first time, it
// positions the tracker on the change log before reading, so every change
// committed after the read is applied later; afterwards the tracker carries
// on as it is (a re-read never skips a gap), and the serials stay.
func (l *loader) full(ctx context.Context) error {
	if l.track == nil {
		if err := l.position(ctx); err != nil {
			return err
		}
	}
	st, err := l.src.LogState(ctx)
	if err != nil {
		return err
	}
	b := l.signing(store.NewFullBuilder(l.sizeHint(ctx), l.versions()))
	invalid := map[string]int{}
	invalidN := 0
	err = l.src.Rows(ctx, nil, func(r records.Row) {
		sr, reason := records.Parse(r, l.zones, l.ttl)
		if reason == records.Valid && !b.Add(sr.FQDN, l.zones.List[sr.Zone].Name, sr.Rec) {
			reason = records.TooMany
		}
		if reason != records.Valid {
			invalid[records.NameKey(r.Name)]++
			invalidN++
			l.skipped[reason]++
		}
	})
	if err != nil {
		return err
	}
	l.invalid, l.invalidN = invalid, invalidN
	// The log below the prune floor is gone, and this read covered what was
	// committed there.
	l.track.Forget(st.PrunedBelow)
	l.pendingFull = ""
	snap := b.Finish()
	snap.Signers = l.signers
	l.commit(snap)
	log.Infof("Loaded %d records for %d names from table %q", l.cur.Records, l.cur.Names, l.table)
	return nil
}

// versions returns the zones with their current serials.
func (l *loader) versions() []store.Version {
	vs := make([]store.Version, len(l.zones.List))
	for i, z := range l.zones.List {
		vs[i] = store.Version{Zone: z, Serial: l.serial.serial(i)}
	}
	return vs
}

// startWindow is how many change-log numbers below the newest one a
// start-up searches for gaps; it reaches further back while a write
// transaction older than the window's oldest entry is open.
const startWindow = 100000

// position starts the tracker on the recent part of the change log: entries
// below it were committed long ago, and the numbers missing among its entries
// are gaps. It also finds every zone's serial.
func (l *loader) position(ctx context.Context) error {
	inc, err := l.src.Increment(ctx)
	if err != nil {
		return err
	}
	st, err := l.src.LogState(ctx)
	if err != nil {
		return err
	}
	top, err := l.src.Top(ctx)
	if err != nil {
		return err
	}
	_, proof := l.src.OpenWriters(ctx)
	if proof != nil && !source.IsNoProof(proof) {
		return proof
	}
	// Numbers below the prune floor were committed and pruned long ago.
	floor := max(st.PrunedBelow, 1) - 1
	from := max(floor, top-min(top, startWindow))
	for from > floor && l.src.OlderWriter(ctx, from) {
		from = max(floor, from-min(from, startWindow))
		log.Infof("A write transaction older than change %d of table %q is open; looking for gaps from there", from, l.table)
	}
	t, now := source.NewTracker(inc, from, proof == nil), l.clock()
	var entries []source.Change
	for cursor := from; ; {
		cs, err := l.src.ChangesAfter(ctx, cursor, source.ChangeBatch)
		if err != nil {
			return err
		}
		for _, c := range cs {
			t.See(c.Seq, now)
		}
		entries = append(entries, cs...)
		if len(cs) < source.ChangeBatch {
			break
		}
		cursor = cs[len(cs)-1].Seq
	}
	rule, err := l.startSerials(ctx, entries, from+1, t.Watermark(), st.PrunedBelow)
	if err != nil {
		return err
	}
	l.track, l.serial = t, rule
	return nil
}

// startSerials applies the serial rule to a change log seen for the first
// time: a zone's serial is its last change at or below the watermark, looked
// for in the window, then backwards from below (at most maxSerialScan
// entries), else the prune floor, and at least the watermark's epoch mark.
// Changes above the watermark wait.
func (l *loader) startSerials(ctx context.Context, entries []source.Change, below, watermark, floor uint64) (serialRule, error) {
	rule := serialRule{last: make([]uint64, len(l.zones.List))}
	found := make([]bool, len(rule.last))
	left := len(found)
	note := func(c source.Change) {
		if zi := l.zoneOf(c.Name); zi >= 0 && !found[zi] {
			rule.last[zi], found[zi] = c.Seq, true
			left--
		}
	}
	for i := len(entries) - 1; i >= 0 && left > 0; i-- {
		if entries[i].Seq <= watermark {
			note(entries[i])
		}
	}
	for scanned := 0; left > 0 && scanned < maxSerialScan && below > 0; {
		cs, err := l.src.ChangesBefore(ctx, below, source.ChangeBatch)
		if err != nil {
			return rule, err
		}
		if len(cs) == 0 {
			break
		}
		for _, c := range cs {
			note(c)
		}
		scanned += len(cs)
		below = cs[len(cs)-1].Seq
	}
	for zi := range found {
		if !found[zi] && floor > 0 {
			rule.last[zi] = floor - 1
		}
	}
	rule.mark(watermark)
	for _, c := range entries {
		if zi := l.zoneOf(c.Name); zi >= 0 && c.Seq > watermark {
			rule.add(c.Seq, zi, watermark)
		}
	}
	return rule, nil
}

// zoneOf returns the index of the zone a change-log name belongs to, or -1.
func (l *loader) zoneOf(name string) int {
	key := records.NameKey(name)
	if !records.ValidName(key) {
		return -1
	}
	return l.zones.Match(key + ".")
}

// sizeHint estimates the names a full load will find, so the index is sized
// once instead of doubling through the load.
func (l *loader) sizeHint(ctx context.Context) int {
	if l.cur != nil {
		return l.cur.Names
	}
	return l.src.Size(ctx)
}

// apply re-reads the rows of the names in fresh, moves the serials on to
// watermark w1 (it was w0 before the poll), and publishes a snapshot in which
// exactly those names and serials changed. Nothing changes when it fails.
func (l *loader) apply(ctx context.Context, fresh []source.Change, w0, w1 uint64) error {
	var keys []string
	for _, c := range fresh {
		keys = append(keys, records.NameKey(c.Name))
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)

	recs := make(map[string][]records.Record, len(keys))
	invalid := make(map[string]int)
	if len(keys) > 0 {
		err := l.src.Rows(ctx, keys, func(r records.Row) {
			key := records.NameKey(r.Name)
			sr, reason := records.Parse(r, l.zones, l.ttl)
			if reason == records.Valid {
				var ok bool
				if recs[key], ok = records.AddRecord(recs[key], sr.Rec); !ok {
					reason = records.TooMany
				}
			}
			if reason != records.Valid {
				invalid[key]++
				l.skipped[reason]++
			}
		})
		if err != nil {
			return err
		}
	}

	old := slices.Clone(l.serial.last)
	for _, c := range fresh {
		if zi := l.zoneOf(c.Name); zi >= 0 {
			l.serial.add(c.Seq, zi, w0)
		}
	}
	l.serial.advance(w1)
	if len(keys) == 0 && slices.Equal(old, l.serial.last) {
		return nil
	}

	b := l.signing(store.NewBuilder(l.cur))
	olds := make([][]store.Entry, len(l.zones.List))
	for _, k := range keys {
		l.invalidN += invalid[k] - l.invalid[k]
		if invalid[k] > 0 {
			l.invalid[k] = invalid[k]
		} else {
			delete(l.invalid, k)
		}
		if zi := l.zoneOf(k); zi >= 0 {
			if was, changed := b.Set(k+".", l.zones.List[zi].Name, recs[k]); changed {
				was = was.Detached() // not the old bucket's memory
				olds[zi] = append(olds[zi], was)
			}
		}
	}
	for zi := range l.serial.last {
		from, to := l.cur.Zones[zi].Serial, l.serial.serial(zi)
		b.SetSerial(zi, to)
		if from != to || len(olds[zi]) > 0 {
			b.Record(zi, &store.Step{From: from, To: to, Old: olds[zi]}, l.journal)
		}
	}
	changesApplied.WithLabelValues(l.label).Add(float64(len(keys)))
	l.commit(b.Finish())
	return nil
}

// commit publishes snap and updates the gauges. A snapshot derived from
// another keeps its signers; full reads and resignAll set theirs.
func (l *loader) commit(snap *store.Snapshot) {
	l.cur = snap
	l.publish(snap)
	recordsGauge.WithLabelValues(l.label).Set(float64(snap.Records))
	invalidRowsGauge.WithLabelValues(l.label).Set(float64(l.invalidN))
}
