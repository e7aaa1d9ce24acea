package dbrecords

import (
	"context"
	"database/sql"
	"maps"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	changeBatch    = 10000  // change-log rows read per query
	maxChangesSync = 100000 // change-log rows read per sync before applying them
	namesPerQuery  = 500    // names per "WHERE name IN (...)" re-read
	holeWindow     = 100000 // sequence numbers checked for open transactions at a full load
	maxHoles       = 10000  // sequence numbers watched at once
	holeTTL        = 10 * time.Minute
)

// queries are the SQL statements for one table and its change log.
type queries struct {
	table, changes string
	all            string
	maxSeq, minSeq string
	seqsAfter      string
	changesAfter   string
	tableRows      string
}

func newQueries(table string) queries {
	changes := table + "_changes"
	return queries{
		table:        table,
		changes:      changes,
		all:          "SELECT name, type, content, ttl FROM `" + table + "`",
		maxSeq:       "SELECT COALESCE(MAX(seq), 0) FROM `" + changes + "`",
		minSeq:       "SELECT COALESCE(MIN(seq), 0) FROM `" + changes + "`",
		seqsAfter:    "SELECT seq FROM `" + changes + "` WHERE seq > ? ORDER BY seq",
		changesAfter: "SELECT seq, name FROM `" + changes + "` WHERE seq > ? ORDER BY seq LIMIT " + strconv.Itoa(changeBatch),
		tableRows:    "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
	}
}

func (q queries) byNames(n int) string {
	return "SELECT name, type, content, ttl FROM `" + q.table + "` WHERE name IN (" + placeholders(2*n) + ")"
}

func (q queries) changesBySeq(n int) string {
	return "SELECT seq, name FROM `" + q.changes + "` WHERE seq IN (" + placeholders(n) + ")"
}

// tracker remembers how far the change log has been read. Sequence numbers
// are allocated when a writer's statement runs but become visible only when
// its transaction commits, so a number below the cursor may still appear: such
// holes are re-read by primary key until they show up or holeTTL passes (a
// rolled-back transaction leaves a hole that never fills).
type tracker struct {
	cursor uint64               // highest sequence number read
	holes  map[uint64]time.Time // unread numbers below cursor, with when they were first missed
}

// see records that seq was read.
func (t *tracker) see(seq uint64, now time.Time) {
	if seq <= t.cursor {
		delete(t.holes, seq)
		return
	}
	for h := t.cursor + 1; h < seq && len(t.holes) < maxHoles; h++ {
		t.holes[h] = now
	}
	t.cursor = seq
}

func (t tracker) clone() tracker {
	c := tracker{cursor: t.cursor, holes: make(map[uint64]time.Time, len(t.holes))}
	maps.Copy(c.holes, t.holes)
	return c
}

// pending returns the holes as query arguments.
func (t *tracker) pending() []any {
	seqs := make([]any, 0, len(t.holes))
	for h := range t.holes {
		seqs = append(seqs, h)
	}
	return seqs
}

// expire forgets holes older than holeTTL and those below the log's lowest entry.
func (t *tracker) expire(now time.Time, minSeq uint64) {
	for h, at := range t.holes {
		if now.Sub(at) > holeTTL || h < minSeq {
			delete(t.holes, h)
		}
	}
}

// position returns a tracker at the change log's newest entry, with the
// numbers missing between the entries of the last holeWindow as holes:
// changes of transactions still open.
func (l *loader) position(ctx context.Context, now time.Time) (tracker, error) {
	t := tracker{holes: map[uint64]time.Time{}}
	var top uint64
	if err := l.db.QueryRowContext(ctx, l.q.maxSeq).Scan(&top); err != nil {
		return t, err
	}
	from := uint64(0)
	if top > holeWindow {
		from = top - holeWindow
	}
	rows, err := l.db.QueryContext(ctx, l.q.seqsAfter, from)
	if err != nil {
		return t, err
	}
	defer rows.Close()
	for rows.Next() {
		var seq uint64
		if err := rows.Scan(&seq); err != nil {
			return t, err
		}
		if t.cursor == 0 {
			// Numbers below the window's oldest entry were pruned, or belong
			// to transactions older than the window: no holes before it.
			t.cursor = seq
			continue
		}
		t.see(seq, now)
	}
	return t, rows.Err()
}

// incremental reads the change log past the cursor, re-reads the rows of
// every name it mentions and publishes the result. The tracker moves on only
// when all of that succeeded, so a failed poll loses nothing.
func (l *loader) incremental(ctx context.Context) (more bool, err error) {
	var minSeq uint64
	if err := l.db.QueryRowContext(ctx, l.q.minSeq).Scan(&minSeq); err != nil {
		return false, err
	}
	if minSeq > l.track.cursor+1 {
		return false, errLogPruned
	}
	now := time.Now()
	t := l.track.clone()
	t.expire(now, minSeq)
	holes := t.pending()

	names := map[string]struct{}{}
	for read := 0; ; {
		n, err := l.readChanges(ctx, &t, l.q.changesAfter, []any{t.cursor}, names, now)
		if err != nil {
			return false, err
		}
		if read += n; n < changeBatch {
			break
		}
		if read >= maxChangesSync {
			more = true
			break
		}
	}
	for len(holes) > 0 {
		n := min(len(holes), namesPerQuery)
		if _, err := l.readChanges(ctx, &t, l.q.changesBySeq(n), holes[:n], names, now); err != nil {
			return false, err
		}
		holes = holes[n:]
	}
	if len(names) > 0 {
		if err := l.apply(ctx, names, t.cursor); err != nil {
			return false, err
		}
	}
	l.track = t
	return more, nil
}

// readChanges runs a change-log query, records what it read in t and adds the
// names it returns.
func (l *loader) readChanges(ctx context.Context, t *tracker, query string, args []any, names map[string]struct{}, now time.Time) (int, error) {
	rows, err := l.db.QueryContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var (
			seq  uint64
			name sql.NullString
		)
		if err := rows.Scan(&seq, &name); err != nil {
			return n, err
		}
		t.see(seq, now)
		names[nameKey(name.String)] = struct{}{}
		n++
	}
	return n, rows.Err()
}

// apply re-reads the rows of the named keys and publishes a snapshot in which
// exactly those names changed.
func (l *loader) apply(ctx context.Context, names map[string]struct{}, cursor uint64) error {
	keys := make([]string, 0, len(names))
	for k := range names {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	recs := make(map[string][]record, len(keys))
	invalid := make(map[string]int)
	for rest := keys; len(rest) > 0; {
		batch := rest[:min(len(rest), namesPerQuery)]
		rest = rest[len(batch):]
		args := make([]any, 0, 2*len(batch))
		for _, k := range batch {
			args = append(args, k, k+".")
		}
		err := l.scan(ctx, l.q.byNames(len(batch)), args, func(r rawRow) {
			key := nameKey(r.name)
			if _, ok := names[key]; !ok {
				return // matched only through the collation's trailing-space rule
			}
			sr, reason := parseRow(r, l.zones, l.ttl)
			if reason != rowValid {
				invalid[key]++
				l.skipped[reason]++
				return
			}
			var ok bool
			if recs[key], ok = addRecord(recs[key], sr.rec); !ok {
				invalid[key]++
				l.skipped[tooMany]++
			}
		})
		if err != nil {
			return err
		}
	}

	b := newBuilder(l.cur)
	for _, k := range keys {
		l.invalidN += invalid[k] - l.invalid[k]
		if invalid[k] > 0 {
			l.invalid[k] = invalid[k]
		} else {
			delete(l.invalid, k)
		}
		if !validName(k) {
			continue
		}
		fqdn := k + "."
		if zi := zoneOf(fqdn, l.zones); zi >= 0 {
			b.set(fqdn, l.zones[zi], zi, recs[k])
		}
	}
	changesApplied.WithLabelValues(l.label).Add(float64(len(keys)))
	l.commit(b.finish(uint32(cursor))) //nolint:gosec // serials wrap by design (RFC 1982)
	return nil
}

// addRecord adds r to a name's records unless its address is already there.
// It reports false, leaving recs as they are, when the name already has
// maxRecords records.
func addRecord(recs []record, r record) ([]record, bool) {
	for _, x := range recs {
		if x.v6 == r.v6 && x.ip == r.ip {
			return recs, true
		}
	}
	if len(recs) >= maxRecords {
		return recs, false
	}
	return append(recs, r), true
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}
