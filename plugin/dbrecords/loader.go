package dbrecords

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/dnssec"
	"github.com/dbrecords/dbrecords/plugin/dbrecords/records"
	"github.com/dbrecords/dbrecords/plugin/dbrecords/source"
	"github.com/dbrecords/dbrecords/plugin/dbrecords/store"
)

const (
	// syncTimeout bounds a poll, so a hung server cannot stall the loader
	// forever; every round trip of a poll is bounded by callTimeout
	// besides, which is what reports a black hole quickly, and a catch-up
	// poll of 100,000 names (200 round trips) still finishes on a database
	// that takes seconds per round trip. A full read has no overall bound:
	// it reads pages of the table, each under a timeout of its own, so its
	// time grows with the table and no statement's does.
	syncTimeout        = 10 * time.Minute
	maxSerialScan      = 1000000 // change-log entries read back at start-up to find a quiet zone's last change
	maxBackoff         = 2 * time.Second
	errorLogInterval   = 30 * time.Second
	invalidLogInterval = time.Minute
)

// Why a replica reads the whole table, the label of full_reads_total.
const (
	reasonStartup   = "startup"   // the first load
	reasonPruned    = "pruned"    // the change log was pruned past entries not yet read
	reasonGap       = "gap"       // a gap outlived gapTimeout and its transaction cannot be proven finished
	reasonReconcile = "reconcile" // the periodic re-read that heals what the change log cannot see
	reasonReload    = "reload"    // a reload changed what answers hold: ttl, ns or negative_ttl
)

// maxChangesSync is how many gap entries a poll reads before applying
// them (a variable for tests).
var maxChangesSync = 100000

var fullReasonText = map[string]string{
	reasonStartup:   "first load",
	reasonPruned:    "the change log was pruned past entries this replica had not read",
	reasonGap:       "a gap in the change log outlived the gap timeout and cannot be proven dead",
	reasonReconcile: "periodic reconcile",
	reasonReload:    "a reload changed the ttl, ns or negative_ttl",
}

// errLogPruned means the change log no longer holds changes we have not read.
var errLogPruned = errors.New("change log was pruned past entries not yet read")

// loader keeps one plugin instance's snapshot in step with the table. Only its
// own goroutine (run) touches its fields.
type loader struct {
	src         source.Source
	zones       records.ZoneSet
	ttl         uint32
	refresh     time.Duration
	reconcile   time.Duration    // full re-read interval; 0 means never
	journal     int              // bytes of IXFR journal per zone
	signers     []*dnssec.Signer // by zone index, nil entries for unsigned zones; nil when none is signed
	keys        string           // settings.keys of signers
	ns          []string         // lower-case FQDNs: their addresses are glue where they lie in a child zone
	negativeTTL uint32
	resign      bool                // a reload changed the signers: sign every entry again before the next sync
	renewAt     uint64              // the bucket renew looked at last
	renewedAt   time.Time           // when renew last ran; zero before the first snapshot
	table       string              // for log lines
	scrub       func(string) string // removes passwords from a log line
	label       string              // metrics label
	publish     func(*store.Snapshot)
	set         <-chan settings  // new settings from a reload
	polls       *pollRequests    // syncs asked for at once; nil for none
	snapDir     string           // where the snapshot file is kept; "" for none
	snapEvery   time.Duration    // the least time between two snapshot files
	now         func() time.Time // the clock gaps age by; time.Now when nil

	cur         *store.Snapshot
	track       *source.Tracker // nil until positioned on the change log
	serial      serialRule
	pendingFull string // why the next sync reads the whole table; "" when it polls
	proofWhy    string // why gaps cannot be proven dead, as last logged
	invalid     map[string]int
	invalidN    int

	saved      *store.Snapshot // the snapshot last written to a file (or read from one)
	savedAt    time.Time       // when
	snapBusy   chan struct{}   // closed when the write under way ends; nil when none is
	snapFailed atomic.Bool     // the last write failed: write again
	source     string          // the database, for snapshot files (no credentials)
	probe      bool            // started from a snapshot file: check the database before the first poll
	resumed    bool            // started from a snapshot file and not caught up yet: journal steps are not kept

	errLog     limiter
	invalidLog limiter
	skipped    [records.NumReasons]int // invalid rows seen since the last log line
}

// run syncs until ctx is done: a full load first (retried with backoff), then
// a change-log poll every refresh, and a full read when the log cannot tell
// what changed. Errors are counted and logged, and the last good snapshot
// stays in service.
func (l *loader) run(ctx context.Context) {
	if l.snapDir == "" || !l.resume() {
		l.requestFull(reasonStartup)
	}
	defer l.saveSnapshot(true)
	failures, lastFull, polled := 0, time.Now(), false
	for {
		l.takeSigners()
		// A poll runs between two reconciles, whatever their interval.
		if l.pendingFull == "" && polled && l.reconcile > 0 && time.Since(lastFull) >= l.reconcile {
			l.requestFull(reasonReconcile)
		}
		start, full := time.Now(), l.pendingFull != ""
		asked := l.polls.starting()
		more, err := l.sync(ctx, full)
		if asked != nil {
			close(asked)
		}
		if ctx.Err() != nil {
			return
		}
		kind := "incremental"
		if full {
			kind = "full"
			if err == nil {
				lastFull, polled = start, false
			}
		} else if err == nil {
			polled = true
			l.resumed = l.resumed && more // caught up with the log once a poll leaves nothing waiting
		}
		syncDuration.WithLabelValues(l.label, kind).Observe(time.Since(start).Seconds())
		// Renewal needs no database: signatures stay valid through an outage.
		l.renew()
		var wait time.Duration
		failures, wait = l.after(err, failures, more || full)
		l.logSkipped()
		l.saveSnapshot(false)
		if !l.sleep(ctx, wait) {
			return
		}
	}
}

// update takes settings from a reload.
func (l *loader) update(s settings) {
	l.refresh, l.reconcile, l.journal = s.refresh, s.reconcile, s.journal
	l.snapDir, l.snapEvery = s.snapshotDir, s.snapshotEvery
	if s.keys != l.keys {
		// A parent zone of the block serves its child's DS: a new serial.
		l.signers, l.keys, l.resign = s.signers, s.keys, true
		if l.track != nil {
			l.serial.bump()
		}
	}
	ttlChanged := s.ttl != l.ttl
	answersChanged := ttlChanged || !slices.Equal(s.ns, l.ns) || s.negativeTTL != l.negativeTTL
	l.ttl, l.ns, l.negativeTTL = s.ttl, s.ns, s.negativeTTL
	if answersChanged {
		// Secondaries see the change by a new serial, and get the whole
		// zone: the SOA, the NS RRset or every TTL changed.
		if l.track != nil {
			l.serial.bump()
		}
		switch {
		case ttlChanged:
			l.requestFull(reasonReload) // the entries' TTLs; the read takes the new serials
		case l.cur != nil:
			l.restamp()
		}
	}
}

// requestFull makes the next sync a full read of the table, counted and
// logged with its reason.
func (l *loader) requestFull(reason string) {
	if l.pendingFull != "" {
		return
	}
	l.pendingFull = reason
	fullReads.WithLabelValues(l.label, reason).Inc()
	if reason != reasonStartup {
		log.Warningf("Reading the whole table %q again in the background: %s", l.table, fullReasonText[reason])
	}
}

// after accounts for the outcome of a sync and says what to do next: the
// failure count, and how long to wait (nothing when more is waiting: after
// a full read, the changes made during it are read at once).
func (l *loader) after(err error, failures int, more bool) (int, time.Duration) {
	switch {
	case errors.Is(err, errLogPruned):
		l.requestFull(reasonPruned)
		return failures, 0
	case err != nil:
		failures++
		syncErrors.WithLabelValues(l.label).Inc()
		if l.errLog.allow(time.Now()) {
			msg := err.Error()
			if l.scrub != nil {
				msg = l.scrub(msg)
			}
			log.Errorf("Sync with table %q failed (%d failures since the last success): %s", l.table, failures, msg)
		}
		return failures, min(l.refresh<<min(failures, 16), maxBackoff)
	}
	if failures > 0 {
		log.Infof("Sync with table %q recovered after %d failures", l.table, failures)
	}
	lastSync.WithLabelValues(l.label).Set(float64(time.Now().UnixNano()) / 1e9)
	if more {
		return 0, 0
	}
	return 0, l.refresh
}

// sleep waits for d, or for settings from a reload; it reports false when
// ctx ended first.
func (l *loader) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case s := <-l.set:
		l.update(s)
		return true
	case <-l.polls.kicks():
		return true
	case <-t.C:
		return true
	}
}

// sync runs one full read or one change-log poll. more reports that changes
// are still waiting to be read.
func (l *loader) sync(ctx context.Context, full bool) (more bool, err error) {
	if full {
		return false, l.full(ctx)
	}
	ctx, cancel := context.WithTimeout(ctx, syncTimeout)
	defer cancel()
	return l.poll(ctx)
}

// poll reads the gaps and the change log past the cursor, re-reads the rows
// of every name that is news and publishes the result. The tracker moves on
// only when all of that succeeded, so a failed poll loses nothing.
func (l *loader) poll(ctx context.Context) (more bool, err error) {
	if l.probe {
		if err := l.checkResumed(ctx); err != nil {
			return false, err
		}
		if l.pendingFull != "" {
			return false, nil
		}
	}
	polled := l.clock()
	var open *source.Writers
	if l.track.HasGaps() { // the proof costs four round trips; only gaps need it
		var err error
		if open, err = l.src.OpenWriters(ctx); err != nil && !source.IsNoProof(err) {
			return false, err
		}
		l.noteProof(err)
	}
	t := l.track.Clone()
	w0, now := t.Watermark(), l.clock()
	var fresh []source.Change
	see := func(cs []source.Change) {
		for _, c := range cs {
			if t.See(c.Seq, now) {
				fresh = append(fresh, c)
			}
		}
	}
	if rs := t.Ranges(); len(rs) > 0 {
		cs, err := l.src.ChangesIn(ctx, rs, maxChangesSync)
		if err != nil {
			return false, err
		}
		see(cs)
		if more = len(cs) == maxChangesSync; more {
			// The gaps were not all read again: the proof says nothing
			// of the entries past the cap, which may be committed and
			// unread (the middle of a backlog), so none dies this poll.
			open = nil
		}
	}
	cs, err := l.src.ChangesAfter(ctx, t.Cursor, source.ChangeBatch)
	if err != nil {
		return false, err
	}
	see(cs)
	if len(cs) == source.ChangeBatch {
		// A backlog (a large transaction, a replica catching up): its
		// newest entries first, so that recent changes are not held up
		// behind it; what lies between becomes a gap, read by the next
		// polls a page at a time.
		newest, err := l.src.ChangesBefore(ctx, math.MaxUint64, source.ChangeBatch)
		if err != nil {
			return false, err
		}
		see(newest)
		more = true
	}
	// Read after the log: had the prune deleted an entry before we read
	// it, the floor says so now.
	st, err := l.src.LogState(ctx)
	if err != nil {
		return false, err
	}
	if st.PrunedBelow > t.Lowest() {
		return false, errLogPruned
	}
	settled := t.Settle(open, polled, now)
	if err := l.apply(ctx, fresh, w0, t.Watermark()); err != nil {
		return false, err
	}
	l.track = t
	l.reportGaps(settled, now)
	return more, nil
}

// renewSweep is how long one sweep of every bucket for signatures to renew
// takes, whatever the refresh and the table size: far within dnssec.Refresh
// (7 days), the margin a signature has when it is due.
const renewSweep = 24 * time.Hour

// renew signs again the entries whose signatures expire within
// dnssec.Refresh, looking at the share of the buckets that the time since the
// last call is of renewSweep: renewal keeps its own clock, so a long refresh
// or a large zone cannot outrun the signatures' validity.
func (l *loader) renew() {
	if l.signers == nil || l.cur == nil || !sameSigners(l.cur, l.signers) {
		return
	}
	now := l.clock()
	if l.renewedAt.IsZero() {
		l.renewedAt = now // every signature was just made
		return
	}
	n := uint64(l.cur.Buckets()) //nolint:gosec // a positive count
	elapsed := now.Sub(l.renewedAt)
	if elapsed <= 0 {
		return
	}
	count := n
	if elapsed < renewSweep {
		count = uint64(math.Ceil(float64(n) * elapsed.Seconds() / renewSweep.Seconds()))
	}
	l.renewedAt = now
	var names []string
	for range count {
		l.renewAt = (l.renewAt + 1) % n
		b := l.cur.Bucket(l.renewAt)
		for i := 0; i < len(b); {
			var e store.Entry
			e, i = l.cur.At(b, i)
			_, zone := e.Parts() // kept below its zone: the zone's signer is its
			if s := l.signerFor(zone); s != nil && s.NeedsRenewal(&e) {
				names = append(names, e.Name())
			}
		}
	}
	if len(names) == 0 {
		return
	}
	b := l.signing(store.NewBuilder(l.cur))
	for _, name := range names {
		b.Resign(name)
	}
	l.commit(b.Finish())
}

// signerFor returns the signer of the zone of name, nil when it is not signed.
func (l *loader) signerFor(name string) *dnssec.Signer {
	if zi := l.zones.Match(name); zi >= 0 && l.signers != nil {
		return l.signers[zi]
	}
	return nil
}

// signing makes b sign what changes in signed zones, and returns it. An
// entry that a full re-read finds as the served snapshot has it keeps its
// signatures (unless they are due for renewal): a reconcile signs nothing
// that did not change.
func (l *loader) signing(b *store.Builder) *store.Builder {
	if l.signers == nil {
		return b
	}
	cur := l.cur
	b.Sign = func(e *store.Entry) {
		_, zone := e.Parts() // kept below the zone that serves it
		zi := l.zones.Match(zone)
		if zi < 0 || l.signers[zi] == nil {
			return
		}
		s := l.signers[zi]
		if cur != nil && sameSigners(cur, l.signers) {
			if old, ok := cur.Get(e.Name()); ok && old.Content() == e.Content() && old.Sigs != "" && !s.NeedsRenewal(&old) {
				e.Sigs = old.Sigs // copied into the new bucket by Finish
				return
			}
		}
		s.SignEntry(e, l.zones.List[zi].Name)
	}
	return b
}

func (l *loader) clock() time.Time {
	if l.now != nil {
		return l.now()
	}
	return time.Now()
}

// noteProof logs when gaps stop or start being provable.
func (l *loader) noteProof(err error) {
	why := ""
	var np source.ErrNoProof
	if errors.As(err, &np) {
		why = np.Why
	}
	if why == l.proofWhy {
		return
	}
	if why == source.StaleTrx || why == "" && l.proofWhy == source.StaleTrx {
		// Now and then, with many readers of INNODB_TRX: the gaps wait a poll.
		log.Debugf("Gap proof for table %q: %q", l.table, why)
		l.proofWhy = why
		return
	}
	if why != "" {
		log.Warningf("Gaps in the change log of table %q cannot be proven dead (%s); each is watched for up to %.0f minutes, then the table is read again", l.table, why, source.GapGiveUp.Minutes())
	} else {
		log.Infof("Gaps in the change log of table %q are proven dead through information_schema.INNODB_TRX", l.table)
	}
	l.proofWhy = why
}

// reportGaps updates the gap metrics and acts on what settle did.
func (l *loader) reportGaps(s source.Settled, now time.Time) {
	n, oldest := l.track.Waiting()
	gapNumbers.WithLabelValues(l.label).Set(float64(n))
	age := 0.0
	if !oldest.IsZero() {
		age = now.Sub(oldest).Seconds()
	}
	oldestGapAge.WithLabelValues(l.label).Set(age)
	if s.Expired > 0 {
		gapsExpired.WithLabelValues(l.label).Add(float64(s.Expired))
		log.Warningf("Serials of table %q no longer wait for %d gaps older than %.0f seconds; a transaction that is still open holds them", l.table, s.Expired, source.GapTimeout.Seconds())
	}
	if s.Given > 0 {
		gapsExpired.WithLabelValues(l.label).Add(float64(s.Given))
		l.requestFull(reasonGap)
	}
}

func (l *loader) logSkipped() {
	n := 0
	for _, c := range l.skipped {
		n += c
	}
	if n == 0 || !l.invalidLog.allow(time.Now()) {
		return
	}
	var msg strings.Builder
	for reason, c := range l.skipped {
		if c > 0 {
			fmt.Fprintf(&msg, "; %d with %s", c, records.Reason(reason))
		}
	}
	log.Warningf("Skipped %d rows of table %q that cannot be served%s", n, l.table, msg.String())
	l.skipped = [records.NumReasons]int{}
}

// limiter allows one event per interval.
type limiter struct {
	interval time.Duration
	last     time.Time
}

func (r *limiter) allow(now time.Time) bool {
	if !r.last.IsZero() && now.Sub(r.last) < r.interval {
		return false
	}
	r.last = now
	return true
}

// takeSigners signs the served data with the signers a reload handed over,
// before anything else is read: at once from memory, or with the full read
// a reload also asked for (which signs everything, and publishes once).
func (l *loader) takeSigners() {
	switch {
	case !l.resign:
	case l.pendingFull != "":
		l.resign = false
	default:
		l.resignAll()
	}
}

// sameSigners reports whether snap was signed by signers.
func sameSigners(snap *store.Snapshot, signers []*dnssec.Signer) bool {
	old, _ := snap.Signers.([]*dnssec.Signer)
	return slices.Equal(old, signers)
}

// resignAll signs every entry of the served snapshot again, with the signers
// a reload handed over (or drops the signatures, when the keys are gone).
// Queries are answered from the old snapshot and its still valid signatures
// until the new one is published; polls wait meanwhile, as during a full
// read. Before the first load there is nothing to sign: the load signs.
func (l *loader) resignAll() {
	l.resign = false
	if l.cur == nil {
		return
	}
	start := time.Now()
	b := l.signing(store.NewBuilder(l.cur))
	for zi := range l.zones.List {
		b.SetSerial(zi, l.serial.serial(zi))
		b.ForgetJournal(zi)
	}
	for e := range l.cur.All() {
		b.Resign(e.Name())
	}
	snap := b.Finish()
	snap.Signers = l.signers
	l.commit(snap)
	l.renewedAt = time.Time{}
	log.Infof("Signed %d names of table %q again with the keys of a reload in %s", l.cur.Names, l.table, time.Since(start).Round(time.Millisecond))
}

// restamp publishes the data served under the serials of the rule with the
// IXFR journals forgotten: the SOA or NS RRset changed, which no step of a
// journal holds, so a secondary gets the whole zone.
func (l *loader) restamp() {
	b := store.NewBuilder(l.cur)
	for zi := range l.zones.List {
		b.SetSerial(zi, l.serial.serial(zi))
		b.ForgetJournal(zi)
	}
	l.commit(b.Finish())
}
