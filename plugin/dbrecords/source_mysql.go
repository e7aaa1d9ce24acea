package dbrecords

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

const (
	changeBatch   = 10000 // change-log entries read per query
	namesPerQuery = 500   // names per "WHERE name IN (...)" re-read
	rangesPerRead = 500   // gap ranges per change-log query
	// callTimeout bounds one round trip of a poll, so that a database that
	// stopped answering (a black hole) is reported within seconds; the full
	// read of the table is bounded by fullTimeout instead.
	callTimeout = 4 * time.Second
)

// mysqlSource reads a dns_records table and its change log from MySQL or MariaDB.
type mysqlSource struct {
	db         *sql.DB
	table      string
	changes    string // the change log: table + "_changes"
	prune      string // the prune floor: table + "_prune"
	replicated bool   // the server applies writes made elsewhere (replica, Galera)
}

func newMySQLSource(db *sql.DB, table string) *mysqlSource {
	return &mysqlSource{db: db, table: table, changes: table + "_changes", prune: table + "_prune"}
}

// call returns the context for one round trip.
func call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, callTimeout)
}

func (s *mysqlSource) increment(ctx context.Context) (uint64, error) {
	ctx, cancel := call(ctx)
	defer cancel()
	var inc uint64
	if err := s.db.QueryRowContext(ctx, "SELECT @@auto_increment_increment").Scan(&inc); err != nil {
		return 0, err
	}
	// Replication and Galera applier threads show as 'system user' (visible
	// with the PROCESS privilege, which the gap proof needs anyway).
	var applied int
	err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'system user' OR COMMAND LIKE 'Slave%'").Scan(&applied)
	if err != nil {
		return 0, err
	}
	var wsrep sql.NullString
	if s.db.QueryRowContext(ctx, "SELECT @@wsrep_on").Scan(&wsrep) == nil && (wsrep.String == "1" || strings.EqualFold(wsrep.String, "ON")) {
		applied++
	}
	s.replicated = applied > 0
	return max(inc, 1), nil
}

func (s *mysqlSource) logState(ctx context.Context) (logState, error) {
	ctx, cancel := call(ctx)
	defer cancel()
	var st logState
	err := s.db.QueryRowContext(ctx, "SELECT COALESCE(MAX(pruned_below), 0) FROM `"+s.prune+"`").Scan(&st.prunedBelow)
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == 1146 { // no such table
		return st, fmt.Errorf("table %q is missing: apply schema.sql of this version", s.prune)
	}
	return st, err
}

func (s *mysqlSource) window(ctx context.Context, d time.Duration) (window, error) {
	ctx, cancel := call(ctx)
	defer cancel()
	var since string
	// trx_started has a resolution of one second and is truncated, so the
	// window can only start earlier than the oldest open writer, never later.
	err := s.db.QueryRowContext(ctx, "SELECT LEAST(NOW(6) - INTERVAL ? MICROSECOND, COALESCE("+
		"(SELECT MIN(trx_started) FROM information_schema.INNODB_TRX WHERE trx_rows_modified > 0), NOW(6)))", d.Microseconds()).Scan(&since)
	if err != nil {
		if err := s.db.QueryRowContext(ctx, "SELECT NOW(6) - INTERVAL ? MICROSECOND", d.Microseconds()).Scan(&since); err != nil {
			return window{}, err
		}
	}
	var w window
	if w.entries, err = s.changeQuery(ctx, "SELECT seq, name FROM `"+s.changes+"` WHERE changed_at >= ? ORDER BY seq", since); err != nil {
		return w, err
	}
	q, args := "SELECT COALESCE(MAX(seq), 0) FROM `"+s.changes+"`", []any{}
	if len(w.entries) > 0 {
		q, args = q+" WHERE seq < ?", []any{w.entries[0].seq}
	}
	return w, s.db.QueryRowContext(ctx, q, args...).Scan(&w.before)
}

func (s *mysqlSource) changesAfter(ctx context.Context, after uint64, limit int) ([]change, error) {
	ctx, cancel := call(ctx)
	defer cancel()
	return s.changeQuery(ctx, "SELECT seq, name FROM `"+s.changes+"` WHERE seq > ? ORDER BY seq LIMIT "+strconv.Itoa(limit), after)
}

func (s *mysqlSource) changesBefore(ctx context.Context, before uint64, limit int) ([]change, error) {
	ctx, cancel := call(ctx)
	defer cancel()
	return s.changeQuery(ctx, "SELECT seq, name FROM `"+s.changes+"` WHERE seq < ? ORDER BY seq DESC LIMIT "+strconv.Itoa(limit), before)
}

func (s *mysqlSource) changesIn(ctx context.Context, ranges []seqRange) ([]change, error) {
	var out []change
	for len(ranges) > 0 {
		batch := ranges[:min(len(ranges), rangesPerRead)]
		ranges = ranges[len(batch):]
		args := make([]any, 0, 2*len(batch))
		for _, r := range batch {
			args = append(args, r.lo, r.hi)
		}
		cond := strings.TrimSuffix(strings.Repeat("seq BETWEEN ? AND ? OR ", len(batch)), " OR ")
		ctx, cancel := call(ctx)
		cs, err := s.changeQuery(ctx, "SELECT seq, name FROM `"+s.changes+"` WHERE "+cond+" ORDER BY seq", args...)
		cancel()
		if err != nil {
			return nil, err
		}
		out = append(out, cs...)
	}
	return out, nil
}

func (s *mysqlSource) changeQuery(ctx context.Context, query string, args ...any) ([]change, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []change
	for rows.Next() {
		var (
			c    change
			name sql.NullString
		)
		if err := rows.Scan(&c.seq, &name); err != nil {
			return nil, fmt.Errorf("reading table %q: %w", s.changes, err)
		}
		c.name = name.String
		out = append(out, c)
	}
	return out, rows.Err()
}

func (s *mysqlSource) openWriters(ctx context.Context) (*writers, error) {
	if s.replicated {
		return nil, errNoProof{"the server applies writes made on other servers (replica or Galera node), whose open transactions it cannot show"}
	}
	ctx, cancel := call(ctx)
	defer cancel()
	rows, err := s.db.QueryContext(ctx, "SELECT trx_id, trx_started FROM information_schema.INNODB_TRX WHERE trx_rows_modified > 0")
	var me *mysql.MySQLError
	if errors.As(err, &me) && (me.Number == 1227 || me.Number == 1142) { // access denied
		return nil, errNoProof{"the PROCESS privilege is missing"}
	}
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	w := &writers{ids: map[string]struct{}{}}
	for rows.Next() {
		var id, started string
		if err := rows.Scan(&id, &started); err != nil {
			return nil, err
		}
		w.ids[id+"@"+started] = struct{}{}
	}
	return w, rows.Err()
}

func (s *mysqlSource) rows(ctx context.Context, keys []string, fn func(rawRow)) error {
	const cols = "SELECT name, type, content, ttl FROM `"
	if keys == nil {
		return s.scan(ctx, cols+s.table+"`", nil, fn)
	}
	want := make(map[string]struct{}, len(keys))
	for _, k := range keys {
		want[k] = struct{}{}
	}
	only := func(r rawRow) {
		if _, ok := want[nameKey(r.name)]; ok { // not a match through the collation's trailing-space rule
			fn(r)
		}
	}
	for len(keys) > 0 {
		batch := keys[:min(len(keys), namesPerQuery)]
		keys = keys[len(batch):]
		args := make([]any, 0, 2*len(batch))
		for _, k := range batch {
			args = append(args, k, k+".")
		}
		ctx, cancel := call(ctx)
		err := s.scan(ctx, cols+s.table+"` WHERE name IN ("+placeholders(len(args))+")", args, only)
		cancel()
		if err != nil {
			return err
		}
	}
	return nil
}

// scan runs query and hands every row to fn.
func (s *mysqlSource) scan(ctx context.Context, query string, args []any, fn func(rawRow)) error {
	rows, err := s.db.QueryContext(ctx, query, args...)
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
			return fmt.Errorf("reading table %q: %w", s.table, err)
		}
		fn(rawRow{name: string(name), typ: string(typ), content: string(content), ttl: ttl.Int64, ttlNull: !ttl.Valid})
	}
	return rows.Err()
}

func (s *mysqlSource) size(ctx context.Context) int {
	ctx, cancel := call(ctx)
	defer cancel()
	var n sql.NullInt64
	q := "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?"
	if err := s.db.QueryRowContext(ctx, q, s.table).Scan(&n); err != nil {
		return 0
	}
	return int(n.Int64)
}

func (s *mysqlSource) close() { s.db.Close() }

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}
