package update

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/records"
	"github.com/go-sql-driver/mysql"
	"github.com/miekg/dns"
)

// Buckets is how many rows the lock table has at most: every name an
// update reads or writes takes the row of its hash first, so two updates
// of one name, on any replica and any Galera node, conflict on a written
// row however InnoDB locks (or does not lock) the gaps of the name index.
const Buckets = 4096

// attempts is how often a transaction that lost a lock conflict (a
// deadlock, or a Galera certification failure) is run again, from its
// prerequisites.
const attempts = 5

// maxRowsRead caps the rows one update reads: as many as the names of a
// full update could hold served, and a refusal beyond.
const maxRowsRead = 20000

// lockWait is how long a transaction waits for a lock on the server, well
// within the client's timeout: the server gives up (1205, run again)
// before the client would, so no transaction outlives its client there.
const lockWait = 2

// Writer applies requests to a records table through a writer account.
type Writer struct {
	DB    *sql.DB
	Table string
	Zones records.ZoneSet
	TTL   uint32   // the ttl property: what a NULL ttl means
	NS    []string // the ns property's names, part of every apex NS RRset
}

// ErrCommit wraps a commit that failed without a reply from the server:
// the changes may or may not have been written.
type ErrCommit struct{ Err error }

func (e *ErrCommit) Error() string { return "commit: " + e.Err.Error() }
func (e *ErrCommit) Unwrap() error { return e.Err }

// Result is what an applied request did.
type Result struct {
	Rcode   int // NOERROR, or the rcode of the prerequisite that failed, or REFUSED
	Why     string
	Changed int // rows inserted, updated and deleted
}

// Apply evaluates req's prerequisites and makes its changes in one
// transaction. An error means the database failed and nothing was written.
func (w *Writer) Apply(ctx context.Context, req *Request) (Result, error) {
	if len(req.prereqs) == 0 && len(req.ops) == 0 {
		return Result{Rcode: dns.RcodeSuccess}, nil // nothing to ask or change (RFC 2136 allows it)
	}
	var err error
	for i := range attempts {
		var res Result
		if res, err = w.attempt(ctx, req); err == nil || !retryable(err) {
			return res, err
		}
		if i == attempts-1 {
			break
		}
		select {
		case <-ctx.Done():
			return Result{}, err
		case <-time.After(time.Duration(10<<i) * time.Millisecond):
		}
	}
	return Result{}, err
}

// retryable reports whether err is a lost lock conflict: a deadlock (1213,
// also Galera's certification failure) or a lock wait timeout (1205).
func retryable(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && (me.Number == 1213 || me.Number == 1205)
}

func (w *Writer) attempt(ctx context.Context, req *Request) (Result, error) {
	tx, err := w.DB.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead})
	if err != nil {
		return Result{}, err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("SET SESSION innodb_lock_wait_timeout = %d", lockWait)); err != nil {
		return Result{}, err
	}
	names := req.names()
	if err := w.lock(ctx, tx, names); err != nil {
		return Result{}, err
	}
	st, err := w.read(ctx, tx, names)
	if errors.Is(err, errTooManyRows) {
		return Result{Rcode: dns.RcodeRefused, Why: err.Error()}, nil
	}
	if err != nil {
		return Result{}, err
	}
	if rcode, why := st.check(req, w.NS, w.Zones.List[req.zi].MName); rcode != dns.RcodeSuccess {
		return Result{Rcode: rcode, Why: why}, nil
	}
	if why := st.apply(req); why != "" {
		return Result{Rcode: dns.RcodeRefused, Why: why}, nil
	}
	n, err := w.write(ctx, tx, st)
	if err != nil {
		return Result{}, err
	}
	if err := tx.Commit(); err != nil {
		var me *mysql.MySQLError
		if !errors.As(err, &me) {
			return Result{}, &ErrCommit{err}
		}
		return Result{}, err
	}
	return Result{Rcode: dns.RcodeSuccess, Changed: n}, nil
}

// names returns the names req reads or writes, sorted.
func (req *Request) names() []string {
	var ns []string
	for _, p := range req.prereqs {
		ns = append(ns, p.name)
	}
	for _, o := range req.ops {
		ns = append(ns, o.name)
	}
	slices.Sort(ns)
	return slices.Compact(ns)
}

// lock takes the lock-table rows of names, in one order for every
// transaction.
func (w *Writer) lock(ctx context.Context, tx *sql.Tx, names []string) error {
	var buckets []uint32
	for _, n := range names {
		h := fnv.New32a()
		h.Write([]byte(n))
		buckets = append(buckets, h.Sum32()%Buckets)
	}
	slices.Sort(buckets)
	buckets = slices.Compact(buckets)
	args := make([]any, len(buckets))
	for i, b := range buckets {
		args[i] = b
	}
	q := "INSERT INTO `" + w.Table + "_update_locks` (bucket, n) VALUES " +
		marks(len(buckets), "(?, 1)") + " ON DUPLICATE KEY UPDATE n = n + 1"
	_, err := tx.ExecContext(ctx, q, args...)
	return err
}

var errTooManyRows = fmt.Errorf("the names of the update hold more than %d rows", maxRowsRead)

// read returns the rows of names, with locking reads.
func (w *Writer) read(ctx context.Context, tx *sql.Tx, names []string) (*state, error) {
	args := make([]any, 0, 2*len(names))
	for _, n := range names {
		key := strings.TrimSuffix(n, ".")
		args = append(args, key, key+".")
	}
	q := "SELECT id, name, type, content, ttl FROM `" + w.Table + "` WHERE name IN (" +
		marks(len(args), "?") + ") ORDER BY id LIMIT " + fmt.Sprint(maxRowsRead+1) + " FOR UPDATE"
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	st := &state{names: map[string][]*row{}}
	for _, n := range names {
		st.names[n] = nil
	}
	for read := 0; rows.Next(); read++ {
		if read == maxRowsRead {
			return nil, errTooManyRows
		}
		var (
			r   row
			ttl sql.NullInt64
		)
		var name, typ, content string
		if err := rows.Scan(&r.id, &name, &typ, &content, &ttl); err != nil {
			return nil, fmt.Errorf("reading table %q: %w", w.Table, err)
		}
		fqdn := records.NameKey(name) + "."
		if _, ok := st.names[fqdn]; !ok {
			continue // a match through the collation's trailing-space rule
		}
		sr, why := records.Parse(records.Row{Name: name, Type: typ, Content: content, TTL: ttl.Int64, TTLNull: !ttl.Valid}, w.Zones, w.TTL)
		r.valid, r.rec = why == records.Valid, sr.Rec
		r.typ = dns.StringToType[strings.ToUpper(strings.TrimSpace(typ))]
		st.names[fqdn] = append(st.names[fqdn], &r)
	}
	return st, rows.Err()
}
