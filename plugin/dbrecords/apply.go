package dbrecords

import (
	"context"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/records"
	"github.com/dbrecords/dbrecords/plugin/dbrecords/source"
	"github.com/dbrecords/dbrecords/plugin/dbrecords/store"
	"github.com/miekg/dns"
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
	// A re-read (not one for new TTLs, which change every name) is compared
	// with what is served, name by name, and only the differences are
	// published, signed alone.
	if l.cur != nil && l.pendingFull != reasonReload && sameSigners(l.cur, l.signers) {
		return l.reread(ctx, st)
	}
	b := l.signing(store.NewFullBuilder(l.sizeHint(ctx), l.versions()))
	invalid := map[string]int{}
	invalidN := 0
	// A name past MaxRecords costs one map lookup per further row, and is
	// read again after the scan through the source's capped query, so that
	// it holds what a poll would give it: its first rows by id.
	over := map[string]bool{}
	// Names with a CNAME or a DS are judged as a whole once all their rows
	// are in (records.Settle).
	settle := map[string]int{}
	err = l.src.Rows(ctx, nil, func(r records.Row) {
		key := records.NameKey(r.Name)
		if over[key] {
			return
		}
		// The row's strings are the source's page (see Source.Rows): a
		// key kept is a copy.
		sr, reason := records.Parse(r, l.zones, l.ttl)
		if reason == records.Valid && !b.Add(sr.FQDN, l.zones.List[sr.Zone].Name, sr.Rec) {
			over[strings.Clone(key)] = true
			return
		}
		if reason == records.Valid && (sr.Rec.Type == dns.TypeCNAME || sr.Rec.Type == dns.TypeDS) {
			settle[sr.FQDN] = sr.Zone
		}
		if reason != records.Valid {
			invalid[strings.Clone(key)]++
			invalidN++
			l.skipped[reason]++
		}
	})
	if err != nil {
		return err
	}
	for fqdn, zi := range settle {
		if over[records.NameKey(fqdn)] {
			continue // read again below, and settled there
		}
		recs, drops := records.Settle(b.Get(fqdn))
		for _, dr := range drops {
			invalid[records.NameKey(fqdn)] += dr.N
			invalidN += dr.N
			l.skipped[dr.Reason] += dr.N
		}
		if len(drops) > 0 {
			b.Set(fqdn, l.zones.List[zi].Name, recs)
		}
	}
	if len(over) > 0 {
		keys := slices.Sorted(maps.Keys(over))
		recs, err := l.readAgain(ctx, keys, invalid, &invalidN)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if zi := l.zoneOf(k); zi >= 0 {
				b.Set(k+".", l.zones.List[zi].Name, recs[k])
			}
		}
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
	// The gaps below an entry written longer than the gap timeout ago were
	// gaps for the running replicas too, which expired them long ago: they
	// do not hold this replica's serial back either (they are still
	// watched, and given up on this replica's own clock). So the window is
	// read twice at most, and only the changes that wait for a recent gap
	// are kept, however far back an old transaction makes the window reach.
	dbNow, _ := l.src.Now(ctx)
	var old uint64 // the highest entry written more than GapTimeout ago
	last := make([]uint64, len(l.zones.List))
	found := make([]bool, len(last))
	err = l.window(ctx, from, math.MaxUint64, func(c source.Change) {
		t.See(c.Seq, now)
		if !c.At.IsZero() && !dbNow.IsZero() && dbNow.Sub(c.At) > source.GapTimeout {
			old = c.Seq
		}
		for _, zi := range l.zonesOf(c.Name) {
			last[zi], found[zi] = max(last[zi], c.Seq), true
		}
	})
	if err != nil {
		return err
	}
	expired := t.ExpireBelow(old)
	w := t.Watermark()
	var pending []zoneChange
	if w < t.Cursor { // changes wait for a recent gap: the serials come from the entries up to it
		clear(last)
		clear(found)
		// As the first pass saw them: entries committed since are news
		// for the first poll.
		err = l.window(ctx, from, t.Cursor, func(c source.Change) {
			if t.Waits(c.Seq) {
				return
			}
			for _, zi := range l.zonesOf(c.Name) {
				if c.Seq > w {
					pending = append(pending, zoneChange{c.Seq, zi})
				} else {
					last[zi], found[zi] = max(last[zi], c.Seq), true
				}
			}
		})
		if err != nil {
			return err
		}
	}
	rule, err := l.startSerials(ctx, last, found, pending, from+1, w, st.PrunedBelow)
	if err != nil {
		return err
	}
	l.track, l.serial = t, rule
	if expired > 0 {
		l.reportGaps(source.Settled{Expired: expired}, now)
	}
	return nil
}

// window calls fn for every change-log entry after from and up to to, in
// order.
func (l *loader) window(ctx context.Context, from, to uint64, fn func(source.Change)) error {
	for cursor := from; ; {
		cs, err := l.src.ChangesAfter(ctx, cursor, source.ChangeBatch)
		if err != nil {
			return err
		}
		for _, c := range cs {
			if c.Seq > to {
				return nil
			}
			fn(c)
		}
		if len(cs) < source.ChangeBatch {
			return nil
		}
		cursor = cs[len(cs)-1].Seq
	}
}

// startSerials applies the serial rule to a change log seen for the first
// time: a zone's serial is its last change at or below the watermark (last,
// where found: in the window), else looked for backwards from below (at
// most maxSerialScan entries), else the prune floor, and at least the
// watermark's epoch mark. The changes above the watermark wait (pending, in
// order).
func (l *loader) startSerials(ctx context.Context, last []uint64, found []bool, pending []zoneChange, below, watermark, floor uint64) (serialRule, error) {
	rule := serialRule{last: last, pending: pending}
	left := 0
	for _, f := range found {
		if !f {
			left++
		}
	}
	note := func(zi int, seq uint64) {
		if zi >= 0 && !found[zi] {
			rule.last[zi], found[zi] = seq, true
			left--
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
			for _, zi := range l.zonesOf(c.Name) {
				note(zi, c.Seq)
			}
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

// zonesOf returns the zones whose transfers hold a change-log name: its
// own, and, for a zone of the block below another, the parent's too when it
// is the child's apex (its NS rows are the cut) or the address of one of
// the child's name servers inside it (the parent sends it as glue).
func (l *loader) zonesOf(name string) []int {
	zi := l.zoneOf(name)
	if zi < 0 {
		return nil
	}
	p := l.zones.Parent(zi)
	if p < 0 {
		return []int{zi}
	}
	fqdn, apex := records.NameKey(name)+".", l.zones.List[zi].Name
	if fqdn == apex || slices.Contains(l.ns, fqdn) || l.nsTarget(apex, fqdn) {
		return []int{zi, p}
	}
	return []int{zi}
}

// nsTarget reports whether the served snapshot has an NS row at apex that
// names target.
func (l *loader) nsTarget(apex, target string) bool {
	if l.cur == nil {
		return false
	}
	e, ok := l.cur.Get(apex)
	if !ok {
		return false
	}
	for _, rr := range e.RRs(apex, dns.TypeNS) {
		if strings.EqualFold(rr.(*dns.NS).Ns, target) {
			return true
		}
	}
	return false
}

// sizeHint estimates the names a full load will find, so the index is sized
// once instead of doubling through the load.
func (l *loader) sizeHint(ctx context.Context) int {
	if l.cur != nil {
		return l.cur.Names
	}
	return l.src.Size(ctx)
}

// readAgain reads the rows of keys by name, after a scan of the whole table
// that could not take them as they came (past MaxRecords, or spelled
// apart), and puts their counts of rows not served in invalid and n in
// place of the scan's.
func (l *loader) readAgain(ctx context.Context, keys []string, invalid map[string]int, n *int) (map[string][]records.Record, error) {
	recs, inv, err := l.readNames(ctx, keys)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		*n += inv[k] - invalid[k]
		if invalid[k] = inv[k]; inv[k] == 0 {
			delete(invalid, k)
		}
	}
	return recs, nil
}

// readNames reads the rows of keys (capped per name by the source) and
// returns their records, and how many of each name's rows are not served.
func (l *loader) readNames(ctx context.Context, keys []string) (map[string][]records.Record, map[string]int, error) {
	recs := make(map[string][]records.Record, len(keys))
	invalid := make(map[string]int)
	if len(keys) == 0 {
		return recs, invalid, nil
	}
	err := l.src.Rows(ctx, keys, func(r records.Row) {
		key := records.NameKey(r.Name)
		if r.Cut > 0 {
			invalid[key] += int(r.Cut)
			l.skipped[records.TooMany] += int(r.Cut)
		}
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
	for key, rs := range recs {
		var drops []records.Drop
		if recs[key], drops = records.Settle(rs); len(drops) > 0 {
			for _, dr := range drops {
				invalid[key] += dr.N
				l.skipped[dr.Reason] += dr.N
			}
		}
	}
	return recs, invalid, err
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

	recs, invalid, err := l.readNames(ctx, keys)
	if err != nil {
		return err
	}

	old := slices.Clone(l.serial.last)
	for _, c := range fresh {
		for _, zi := range l.zonesOf(c.Name) {
			l.serial.add(c.Seq, zi, w0)
		}
	}
	l.serial.advance(w1)
	if len(keys) == 0 && slices.Equal(old, l.serial.last) {
		return nil
	}

	for _, k := range keys {
		l.invalidN += invalid[k] - l.invalid[k]
		if invalid[k] > 0 {
			l.invalid[k] = invalid[k]
		} else {
			delete(l.invalid, k)
		}
	}
	l.publishNames(keys, recs, false)
	changesApplied.WithLabelValues(l.label).Add(float64(len(keys)))
	return nil
}

// publishNames publishes the served snapshot with the names of keys set
// to recs (nil: deleted), as one IXFR journal step per zone. With bump,
// every zone whose data changed gets a serial one higher: a change the
// change log did not tell of (found by a full read) has no number of it.
func (l *loader) publishNames(keys []string, recs map[string][]records.Record, bump bool) {
	b := l.signing(store.NewBuilder(l.cur))
	olds := make([][]store.Entry, len(l.zones.List))
	// A parent whose cut to a child zone of the block changed (the NS rows
	// at the child's apex) sends the whole zone: the glue it holds follows
	// the NS names, whose old addresses no journal step keeps.
	forget := make([]bool, len(l.zones.List))
	for _, k := range keys {
		if zs := l.zonesOf(k); len(zs) > 0 {
			if was, changed := b.Set(k+".", l.zones.List[zs[0]].Name, recs[k]); changed {
				was = was.Detached() // not the old bucket's memory
				for _, zi := range zs {
					olds[zi] = append(olds[zi], was)
				}
				if len(zs) > 1 && k+"." == l.zones.List[zs[0]].Name && !sameNS(&was, recs[k]) {
					forget[zs[1]] = true
				}
			}
		}
	}
	for zi := range l.serial.last {
		if bump && len(olds[zi]) > 0 {
			l.serial.last[zi]++
		}
		from, to := l.cur.Zones[zi].Serial, l.serial.serial(zi)
		b.SetSerial(zi, to)
		switch {
		case forget[zi] || l.resumed:
			// After a start from a snapshot file, until the log is caught
			// up, a serial may be one the process before served with
			// other contents: no step is kept.
			b.ForgetJournal(zi)
		case from != to || len(olds[zi]) > 0:
			b.Record(zi, &store.Step{From: from, To: to, Old: olds[zi]}, l.journal)
		}
	}
	l.commit(b.Finish())
}

// pendingNames returns the names of the change-log entries the next poll
// will read (past the cursor, and in the gaps), up to maxChangesSync.
func (l *loader) pendingNames(ctx context.Context) (map[string]bool, error) {
	names := map[string]bool{}
	add := func(cs []source.Change) {
		for _, c := range cs {
			names[records.NameKey(c.Name)] = true
		}
	}
	if rs := l.track.Ranges(); len(rs) > 0 {
		cs, err := l.src.ChangesIn(ctx, rs, maxChangesSync)
		if err != nil {
			return nil, err
		}
		add(cs)
	}
	for cursor, read := l.track.Cursor, 0; read < maxChangesSync; {
		cs, err := l.src.ChangesAfter(ctx, cursor, source.ChangeBatch)
		if err != nil {
			return nil, err
		}
		add(cs)
		if len(cs) < source.ChangeBatch {
			break
		}
		cursor, read = cs[len(cs)-1].Seq, read+len(cs)
	}
	return names, nil
}

// sameNS reports whether was and recs have the same NS records.
func sameNS(was *store.Entry, recs []records.Record) bool {
	ns := func(rs []records.Record) []records.Record {
		rs = slices.DeleteFunc(slices.Clone(rs), func(r records.Record) bool { return r.Type != dns.TypeNS })
		slices.SortFunc(rs, func(a, b records.Record) int { return strings.Compare(a.Data, b.Data) })
		return rs
	}
	return slices.Equal(ns(was.Records()), ns(recs))
}

// commit publishes snap and updates the gauges. A snapshot derived from
// another keeps its signers; full reads and resignAll set theirs.
func (l *loader) commit(snap *store.Snapshot) {
	l.cur = snap
	l.publish(snap)
	recordsGauge.WithLabelValues(l.label).Set(float64(snap.Records))
	for _, t := range records.Types() {
		recordsByType.WithLabelValues(l.label, dns.TypeToString[t]).Set(float64(snap.ByType[t]))
	}
	invalidRowsGauge.WithLabelValues(l.label).Set(float64(l.invalidN))
}
