package dbrecords

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"time"
)

const (
	fullTimeout        = 10 * time.Minute // a whole-table read; bounded so a hung server cannot stall us forever
	minSyncTimeout     = 15 * time.Second // a change-log poll (a few round trips); at least 5× refresh
	maxBackoff         = 5 * time.Second
	errorLogInterval   = 30 * time.Second
	invalidLogInterval = time.Minute
)

// errLogPruned means the change log no longer holds changes we have not read.
var errLogPruned = errors.New("change log was pruned past the last change read")

// loader keeps one plugin instance's snapshot in step with the table. Only its
// own goroutine (run) touches its fields.
type loader struct {
	db        *sql.DB
	q         queries
	zones     []string
	ttl       uint32
	refresh   time.Duration
	reconcile time.Duration // full reload interval; 0 means never
	label     string        // metrics label
	publish   func(*snapshot)

	cur      *snapshot
	track    tracker
	invalid  map[string]int // name key → rows of that name that cannot be served
	invalidN int

	errLog     limiter
	invalidLog limiter
	skipped    [numReasons]int // invalid rows seen since the last log line
}

// run syncs until ctx is done: a full load first (retried with backoff), then
// a change-log poll every refresh, and a full reload every reconcile. Errors
// are counted and logged, and the last good snapshot stays in service.
func (l *loader) run(ctx context.Context) {
	full, failures := true, 0
	var lastFull time.Time
	for {
		if !full && l.reconcile > 0 && time.Since(lastFull) >= l.reconcile {
			log.Infof("Reconciling: reloading the whole table %q", l.q.table)
			full = true
		}
		start := time.Now()
		more, err := l.sync(ctx, full)
		if ctx.Err() != nil {
			return
		}
		kind := "incremental"
		if full {
			kind = "full"
		}
		syncDuration.WithLabelValues(l.label, kind).Observe(time.Since(start).Seconds())
		if err == nil && full {
			lastFull = start
		}
		var wait time.Duration
		full, failures, wait = l.after(err, full, failures, more)
		l.logSkipped()
		if !sleep(ctx, wait) {
			return
		}
	}
}

// after accounts for the outcome of a sync and says what to do next: whether
// the next sync is a full one, the failure count, and how long to wait.
func (l *loader) after(err error, full bool, failures int, more bool) (bool, int, time.Duration) {
	switch {
	case errors.Is(err, errLogPruned):
		log.Warningf("Change log of table %q was pruned past our position; reloading the whole table", l.q.table)
		return true, failures, 0
	case err != nil:
		failures++
		syncErrors.WithLabelValues(l.label).Inc()
		if l.errLog.allow(time.Now()) {
			log.Errorf("Sync with table %q failed (%d failures since the last success): %v", l.q.table, failures, err)
		}
		return full, failures, min(l.refresh<<min(failures, 16), maxBackoff)
	}
	if failures > 0 {
		log.Infof("Sync with table %q recovered after %d failures", l.q.table, failures)
	}
	lastSync.WithLabelValues(l.label).Set(float64(time.Now().UnixNano()) / 1e9)
	if more {
		return false, 0, 0
	}
	return false, 0, l.refresh
}

// sleep waits for d; it reports false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// sync runs one full load or one change-log poll. more reports that changes
// are still waiting to be read.
func (l *loader) sync(ctx context.Context, full bool) (more bool, err error) {
	if full {
		ctx, cancel := context.WithTimeout(ctx, fullTimeout)
		defer cancel()
		return false, l.full(ctx)
	}
	ctx, cancel := context.WithTimeout(ctx, max(minSyncTimeout, 5*l.refresh))
	defer cancel()
	return l.incremental(ctx)
}

// full reads the whole table into a new snapshot. It notes the change log's
// position first, so every change committed after the read is applied later.
func (l *loader) full(ctx context.Context) error {
	track, err := l.position(ctx, time.Now())
	if err != nil {
		return err
	}
	b := newFullBuilder(l.sizeHint(ctx), len(l.zones))
	invalid := map[string]int{}
	invalidN := 0
	err = l.scan(ctx, l.q.all, nil, func(r rawRow) {
		sr, reason := parseRow(r, l.zones, l.ttl)
		if reason == rowValid && !b.add(sr.fqdn, l.zones[sr.zone], sr.zone, sr.rec) {
			reason = tooMany
		}
		if reason != rowValid {
			invalid[nameKey(r.name)]++
			invalidN++
			l.skipped[reason]++
		}
	})
	if err != nil {
		return err
	}
	if l.cur != nil {
		copy(b.s.serials, l.cur.serials)
	}
	for i := range b.touched {
		b.touched[i] = true
	}
	l.track = track
	l.invalid, l.invalidN = invalid, invalidN
	snap := b.finish(uint32(track.cursor)) //nolint:gosec // serials wrap by design (RFC 1982)
	// A full load leaves several times as much garbage as it keeps (row
	// strings, decoded buckets); hand it back before serving rather than
	// carry it as RSS. It costs a GC, once per full load.
	debug.FreeOSMemory()
	l.commit(snap)
	log.Infof("Loaded %d records for %d names from table %q", l.cur.records, l.cur.names, l.q.table)
	return nil
}

// sizeHint estimates the names a full load will find, so the index is sized
// once instead of doubling through the load.
func (l *loader) sizeHint(ctx context.Context) int {
	if l.cur != nil {
		return l.cur.names
	}
	var rows sql.NullInt64
	if err := l.db.QueryRowContext(ctx, l.q.tableRows, l.q.table).Scan(&rows); err != nil {
		return 0
	}
	return int(rows.Int64)
}

// commit publishes snap and updates the gauges.
func (l *loader) commit(snap *snapshot) {
	l.cur = snap
	l.publish(snap)
	recordsGauge.WithLabelValues(l.label).Set(float64(snap.records))
	invalidRowsGauge.WithLabelValues(l.label).Set(float64(l.invalidN))
}

// scan runs query and hands every row to fn.
func (l *loader) scan(ctx context.Context, query string, args []any, fn func(rawRow)) error {
	rows, err := l.db.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var (
		name, typ, content sql.RawBytes
		ttl                sql.NullInt64
	)
	for rows.Next() {
		if err := rows.Scan(&name, &typ, &content, &ttl); err != nil {
			return fmt.Errorf("reading table %q: %w", l.q.table, err)
		}
		fn(rawRow{name: string(name), typ: string(typ), content: string(content), ttl: ttl.Int64, ttlNull: !ttl.Valid})
	}
	return rows.Err()
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
			fmt.Fprintf(&msg, "; %d with %s", c, invalidReason(reason))
		}
	}
	log.Warningf("Skipped %d rows of table %q that cannot be served%s", n, l.q.table, msg.String())
	l.skipped = [numReasons]int{}
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
