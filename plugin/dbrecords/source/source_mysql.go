package source

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/records"
	"github.com/go-sql-driver/mysql"
	"golang.org/x/sync/errgroup"
)

const (
	// MaxConnections is the size of each connection pool a source opens.
	MaxConnections = 2
	// ConnMaxLifetime recycles connections, so that a rotated dsn_file is in
	// use everywhere within minutes even if no connection fails.
	ConnMaxLifetime = 5 * time.Minute
)

const (
	ChangeBatch   = 10000 // change-log entries read per query
	namesPerQuery = 2000  // names per "WHERE name IN (...)" re-read
	rangesPerRead = 500   // gap ranges per change-log query
	// callTimeout bounds one round trip of a poll, so that a database that
	// stopped answering (a black hole) is reported within seconds; the full
	// read of the table is bounded by syncTimeout instead.
	callTimeout = 3500 * time.Millisecond
	// A full read goes by pages of pageRows rows, each read under
	// pageTimeout: a page takes about 0.1 s locally.
	pageTimeout = time.Minute
)

// pageRows is the rows of one page of a full read (a variable for tests).
var pageRows = 10000

// mysqlSource reads a dns_records table and its change log from MySQL or
// MariaDB. On a Galera node it asks every node of the cluster for its open
// transactions, and reads with wsrep_sync_wait, so gaps can be proven dead
// there too.
type mysqlSource struct {
	db      *sql.DB
	connect func(addr string) driver.Connector // reaches another node of a Galera cluster
	table   string
	changes string // the change log: table + "_changes"
	prune   string // the prune floor: table + "_prune"

	wasReplica bool               // the server has applied a primary's binary log (MariaDB's gtid_slave_pos)
	galera     bool               // the server is a Galera node
	nodes      map[string]*sql.DB // every node of the Galera cluster, by address
	refused    []string           // nodes of the cluster that must not be dialled
	syncWait   string             // prefix that makes a read wait for the cluster's writes
}

// NewMySQL reads table, its change log and its prune floor through db;
// connect reaches the other nodes of a Galera cluster, and returns nil for
// an address that must not be dialled (see errPeersNeedTLS).
func NewMySQL(db *sql.DB, connect func(addr string) driver.Connector, table string) Source {
	return &mysqlSource{db: db, connect: connect, table: table, changes: table + "_changes", prune: table + "_prune"}
}

// call returns the context for one round trip.
func call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, callTimeout)
}

// Increment implements Source.
func (s *mysqlSource) Increment(ctx context.Context) (uint64, error) {
	ctx, cancel := call(ctx)
	defer cancel()
	var inc uint64
	if err := s.db.QueryRowContext(ctx, "SELECT @@auto_increment_increment").Scan(&inc); err != nil {
		return 0, err
	}
	var wsrep sql.NullString
	s.galera = s.db.QueryRowContext(ctx, "SELECT @@wsrep_on").Scan(&wsrep) == nil && (wsrep.String == "1" || strings.EqualFold(wsrep.String, "ON"))
	if s.galera {
		s.syncWait = "SET STATEMENT wsrep_sync_wait = 1 FOR "
		return max(inc, 1), s.findNodes(ctx)
	}
	// A replica whose replication is stopped shows no replication thread;
	// MariaDB remembers the position it applied up to.
	var pos sql.NullString
	s.wasReplica = s.db.QueryRowContext(ctx, "SELECT @@gtid_slave_pos").Scan(&pos) == nil && pos.String != ""
	return max(inc, 1), nil
}

// findNodes learns the Galera cluster's members from the node we read.
func (s *mysqlSource) findNodes(ctx context.Context) error {
	var name, addrs string
	if err := s.db.QueryRowContext(ctx, "SHOW STATUS LIKE 'wsrep_incoming_addresses'").Scan(&name, &addrs); err != nil {
		return err
	}
	s.setNodes(strings.Split(addrs, ","))
	return nil
}

// setNodes keeps a one-connection pool per Galera node address, and notes
// the addresses it must not dial.
func (s *mysqlSource) setNodes(addrs []string) {
	keep := map[string]*sql.DB{}
	s.refused = nil
	for _, a := range addrs {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if db, ok := s.nodes[a]; ok {
			keep[a] = db
			continue
		}
		c := s.connect(a)
		if c == nil {
			s.refused = append(s.refused, a)
			continue
		}
		db := sql.OpenDB(c)
		db.SetMaxOpenConns(1)
		db.SetConnMaxLifetime(ConnMaxLifetime)
		keep[a] = db
	}
	for a, db := range s.nodes {
		if _, ok := keep[a]; !ok {
			db.Close()
		}
	}
	s.nodes = keep
}

// LogState implements Source.
func (s *mysqlSource) LogState(ctx context.Context) (LogState, error) {
	ctx, cancel := call(ctx)
	defer cancel()
	var st LogState
	err := s.db.QueryRowContext(ctx, "SELECT COALESCE(MAX(pruned_below), 0) FROM `"+s.prune+"`").Scan(&st.PrunedBelow)
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == 1146 { // no such table
		return st, fmt.Errorf("table %q is missing: run `dbrecords schema apply` (or apply schema/schema.sql) of this version", s.prune)
	}
	return st, err
}

// Top implements Source.
func (s *mysqlSource) Top(ctx context.Context) (uint64, error) {
	ctx, cancel := call(ctx)
	defer cancel()
	var top uint64
	return top, s.db.QueryRowContext(ctx, s.syncWait+"SELECT COALESCE(MAX(seq), 0) FROM `"+s.changes+"`").Scan(&top)
}

// OlderWriter implements Source.
func (s *mysqlSource) OlderWriter(ctx context.Context, seq uint64) bool {
	ctx, cancel := call(ctx)
	defer cancel()
	var n int
	// Both times are in the server's time zone for a session that keeps
	// the default time_zone (SYSTEM); trx_started is truncated to seconds,
	// which errs on the side of reading further back.
	err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE (trx_rows_modified > 0 OR trx_lock_structs > 0) AND trx_started <= "+
		"(SELECT changed_at FROM `"+s.changes+"` WHERE seq <= ? ORDER BY seq DESC LIMIT 1)", seq).Scan(&n)
	return err == nil && n > 0
}

// ChangesAfter implements Source.
func (s *mysqlSource) ChangesAfter(ctx context.Context, after uint64, limit int) ([]Change, error) {
	ctx, cancel := call(ctx)
	defer cancel()
	return s.changeQuery(ctx, s.syncWait+"SELECT seq, name, UNIX_TIMESTAMP(changed_at) FROM `"+s.changes+"` WHERE seq > ? ORDER BY seq LIMIT "+strconv.Itoa(limit), after)
}

// ChangesBefore implements Source.
func (s *mysqlSource) ChangesBefore(ctx context.Context, before uint64, limit int) ([]Change, error) {
	ctx, cancel := call(ctx)
	defer cancel()
	return s.changeQuery(ctx, "SELECT seq, name, UNIX_TIMESTAMP(changed_at) FROM `"+s.changes+"` WHERE seq < ? ORDER BY seq DESC LIMIT "+strconv.Itoa(limit), before)
}

// ChangesIn implements Source.
func (s *mysqlSource) ChangesIn(ctx context.Context, ranges []ClassRange, limit int) ([]Change, error) {
	var out []Change
	for len(ranges) > 0 && len(out) < limit {
		batch := ranges[:min(len(ranges), rangesPerRead)]
		ranges = ranges[len(batch):]
		args := make([]any, 0, 4*len(batch))
		var cond strings.Builder
		for i, r := range batch {
			if i > 0 {
				cond.WriteString(" OR ")
			}
			cond.WriteString("seq BETWEEN ? AND ?")
			args = append(args, r.Lo, r.Hi)
			if r.Inc > 1 { // only the numbers of the gap's series, not its neighbours'
				cond.WriteString(" AND seq % ? = ?")
				args = append(args, r.Inc, r.Class)
			}
		}
		ctx, cancel := call(ctx)
		cs, err := s.changeQuery(ctx, s.syncWait+"SELECT seq, name, UNIX_TIMESTAMP(changed_at) FROM `"+s.changes+"` WHERE "+cond.String()+" ORDER BY seq LIMIT "+strconv.Itoa(limit-len(out)), args...)
		cancel()
		if err != nil {
			return nil, err
		}
		out = append(out, cs...)
	}
	return out, nil
}

func (s *mysqlSource) changeQuery(ctx context.Context, query string, args ...any) ([]Change, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Change
	for rows.Next() {
		var (
			c    Change
			name sql.NullString
			at   sql.NullFloat64
		)
		if err := rows.Scan(&c.Seq, &name, &at); err != nil {
			return nil, fmt.Errorf("reading table %q: %w", s.changes, err)
		}
		c.Name, c.At = name.String, unixTime(at)
		out = append(out, c)
	}
	return out, rows.Err()
}

// Now implements Source.
func (s *mysqlSource) Now(ctx context.Context) (time.Time, error) {
	ctx, cancel := call(ctx)
	defer cancel()
	var now sql.NullFloat64
	err := s.db.QueryRowContext(ctx, "SELECT UNIX_TIMESTAMP(NOW(6))").Scan(&now)
	return unixTime(now), err
}

// unixTime turns UNIX_TIMESTAMP's seconds into a time; zero for NULL.
func unixTime(secs sql.NullFloat64) time.Time {
	if !secs.Valid {
		return time.Time{}
	}
	return time.UnixMicro(int64(math.Round(secs.Float64 * 1e6)))
}

// OpenWriters implements Source.
func (s *mysqlSource) OpenWriters(ctx context.Context) (*Writers, error) {
	w := &Writers{IDs: map[string]struct{}{}, Frontier: math.MaxUint64}
	nodes := map[string]*sql.DB{"": s.db}
	if s.galera {
		// Members come and go: a proof must ask every node of the moment.
		ctx, cancel := call(ctx)
		err := s.findNodes(ctx)
		cancel()
		if err != nil {
			return nil, err
		}
		if nodes, err = s.peers(); err != nil {
			return nil, err
		}
	}
	for addr, db := range nodes {
		if err := s.openOn(ctx, db, addr, w); err != nil {
			var np ErrNoProof
			if addr != "" && !errors.As(err, &np) {
				err = ErrNoProof{fmt.Sprintf("Galera node %s cannot be asked: %v", addr, err)}
			}
			return nil, err
		}
	}
	return w, nil
}

// peers returns the Galera nodes to ask for open writers, or why the proof
// cannot be made: a node is missing, refused, or has no usable address.
func (s *mysqlSource) peers() (map[string]*sql.DB, error) {
	if len(s.refused) > 0 {
		return nil, ErrNoProof{fmt.Sprintf("Galera node %s is not asked: %s", s.refused[0], errPeersNeedTLS)}
	}
	if len(s.nodes) == 0 {
		return nil, ErrNoProof{"wsrep_incoming_addresses names no Galera node to ask"}
	}
	for addr := range s.nodes {
		if strings.EqualFold(addr, "AUTO") {
			return nil, ErrNoProof{"a Galera node's address is AUTO in wsrep_incoming_addresses (set wsrep_node_incoming_address)"}
		}
	}
	return s.nodes, nil
}

// openOn adds the write transactions open on db (at addr, "" for the server
// we read) to w, and lowers w's frontier to db's. It reads the frontier
// first, then the open transactions in a transaction of its own that must
// show in them: INNODB_TRX is a cache that is not refreshed while it is
// read more often than every 100 ms, and only a refresh after the frontier
// was read makes the proof sound.
func (s *mysqlSource) openOn(ctx context.Context, db *sql.DB, addr string, w *Writers) error {
	var conn *sql.Conn
	err := one(ctx, func(ctx context.Context) error {
		var err error
		conn, err = db.Conn(ctx)
		return err
	})
	if err != nil {
		return err
	}
	defer conn.Close()
	var (
		applied  int
		readOnly bool
		next     sql.NullInt64
	)
	// Replication threads show as 'system user' or 'Slave_*' (visible with
	// PROCESS): a replica cannot show its primary's writers. SET_VAR keeps
	// MySQL 8 from answering AUTO_INCREMENT from its cached table
	// statistics; MariaDB's value is live.
	err = one(ctx, func(ctx context.Context) error {
		return conn.QueryRowContext(ctx, "SELECT /*+ SET_VAR(information_schema_stats_expiry=0) */ "+
			"(SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'system user' OR COMMAND LIKE 'Slave%'), @@global.read_only, "+
			"(SELECT AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?)", s.changes).Scan(&applied, &readOnly, &next)
	})
	if err != nil {
		return err
	}
	if !s.galera && (applied > 0 || readOnly || s.wasReplica) {
		return ErrNoProof{"the server is (or was) an asynchronous replica (replication threads, read_only or gtid_slave_pos), which cannot show its primary's open transactions"}
	}
	if !next.Valid {
		return ErrNoProof{"the change log's AUTO_INCREMENT is not visible in information_schema.TABLES"}
	}
	// Another client's read of INNODB_TRX within the last 100 ms keeps the
	// cache from refreshing; a little later it usually can.
	for attempt := 0; ; attempt++ {
		err := s.snapshotWriters(ctx, conn, addr, w)
		if !errors.Is(err, errStaleTrx) || attempt == 2 {
			if err == nil {
				w.Frontier = min(w.Frontier, uint64(max(next.Int64, 1))) //nolint:gosec // positive
			}
			return err
		}
		if !sleepCtx(ctx, 150*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// errPeersNeedTLS: the addresses of the other Galera nodes come from the
// cluster (wsrep_incoming_addresses), so whoever can list an address there
// would get a login with the replica's credentials; they are dialled only
// over TLS, which verifies each node's certificate.
const errPeersNeedTLS = "the other Galera nodes are dialled only over TLS (the tls property) or when galera_nodes lists them, since their addresses come from the cluster and the replica's credentials must not go to a server nobody vouched for"

// errStaleTrx: INNODB_TRX came from a cache older than our own transaction.
var errStaleTrx = ErrNoProof{StaleTrx}

// StaleTrx is why a gap cannot be proven dead while INNODB_TRX is cached.
const StaleTrx = "information_schema.INNODB_TRX was not refreshed (other clients read it more often than every 100 ms)"

// snapshotWriters adds the write transactions in INNODB_TRX to w, read in a
// transaction of its own that must appear there.
func (s *mysqlSource) snapshotWriters(ctx context.Context, conn *sql.Conn, addr string, w *Writers) error {
	if err := one(ctx, func(ctx context.Context) error {
		_, err := conn.ExecContext(ctx, "START TRANSACTION WITH CONSISTENT SNAPSHOT")
		return err
	}); err != nil {
		return err
	}
	defer one(context.Background(), func(ctx context.Context) error { //nolint:errcheck // a read-only transaction; a broken connection is discarded
		_, err := conn.ExecContext(ctx, "COMMIT")
		return err
	})
	// The witness is this very read: a row of a previous read on the same
	// connection (same thread) in a stale cache would not carry the nonce.
	nonce := strconv.FormatUint(rand.Uint64(), 36)
	witness := false
	err := one(ctx, func(ctx context.Context) error {
		rows, err := conn.QueryContext(ctx, "SELECT trx_id, trx_started, trx_rows_modified > 0 OR trx_lock_structs > 0, "+
			"trx_mysql_thread_id = CONNECTION_ID() AND trx_query LIKE '%dbrecords-proof-"+nonce+"%' "+
			"FROM information_schema.INNODB_TRX /* dbrecords-proof-"+nonce+" */")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				id, started  string
				writes, self bool
			)
			if err := rows.Scan(&id, &started, &writes, &self); err != nil {
				return err
			}
			witness = witness || self
			// A writer that took a number has modified the log or, for an
			// UPDATE that changed nothing, at least holds row locks.
			if writes && !self {
				w.IDs[addr+"/"+id+"@"+started] = struct{}{}
			}
		}
		return rows.Err()
	})
	var me *mysql.MySQLError
	if errors.As(err, &me) && (me.Number == 1227 || me.Number == 1142) { // access denied
		return ErrNoProof{"the PROCESS privilege is missing"}
	}
	if err != nil {
		return err
	}
	if !witness {
		return errStaleTrx
	}
	return nil
}

// sleepCtx waits for d; false when ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// one runs one round trip under callTimeout.
func one(ctx context.Context, rt func(context.Context) error) error {
	ctx, cancel := call(ctx)
	defer cancel()
	return rt(ctx)
}

// Capped returns the query for the rows of table matching where (with args),
// at most records.MaxRecords per name, the first by id, so that no writer
// can make a replica read, hold or sort more than what is served; the first
// row of each name tells how many of its rows were left out.
func Capped(table, where string) string {
	return fmt.Sprintf("SELECT name, type, content, ttl, IF(rn = 1, GREATEST(n - %[1]d, 0), 0) FROM ("+
		"SELECT name, type, content, ttl, ROW_NUMBER() OVER (PARTITION BY TRIM(TRAILING '.' FROM name) ORDER BY id) AS rn, "+
		"COUNT(*) OVER (PARTITION BY TRIM(TRAILING '.' FROM name)) AS n FROM `%[2]s`%[3]s) AS capped WHERE rn <= %[1]d", records.MaxRecords, table, where)
}

// Rows implements Source.
func (s *mysqlSource) Rows(ctx context.Context, keys []string, fn func(records.Row)) error {
	if keys == nil {
		return s.all(ctx, fn)
	}
	want := make(map[string]struct{}, len(keys))
	for _, k := range keys {
		want[k] = struct{}{}
	}
	// Batches run on every connection of the pool at once (a 100,000-name
	// catch-up takes 0.9 s instead of 2.5 s locally); fn sees one row at a time.
	var mu sync.Mutex
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(MaxConnections)
	for len(keys) > 0 {
		batch := keys[:min(len(keys), namesPerQuery)]
		keys = keys[len(batch):]
		g.Go(func() error {
			args := make([]any, 0, 2*len(batch))
			for _, k := range batch {
				args = append(args, k, k+".")
			}
			var got []records.Row
			err := one(ctx, func(ctx context.Context) error {
				return s.scan(ctx, s.syncWait+Capped(s.table, " WHERE name IN ("+placeholders(len(args))+")"), args, func(r records.Row) {
					if _, ok := want[records.NameKey(r.Name)]; ok { // not a match through the collation's trailing-space rule
						got = append(got, r)
					}
				})
			})
			mu.Lock()
			defer mu.Unlock()
			for _, r := range got {
				fn(r)
			}
			return err
		})
	}
	return g.Wait()
}

// all reads the whole table in primary-key order, uncapped (a window over
// every row would double a full read; the loader reads names past the cap
// again, through the capped query), in pages of pageRows by keyset, each
// its own statement under pageTimeout: no statement grows with the table.
// One goroutine reads the next page while fn takes the last.
func (s *mysqlSource) all(ctx context.Context, fn func(records.Row)) error {
	pages := make(chan []records.Row, 1)
	// Three page buffers go round: one being read, one waiting, one being
	// taken by fn.
	free := make(chan []records.Row, 3)
	for range 3 {
		free <- make([]records.Row, 0, pageRows)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(pages)
		var after *uint64 // nil: the first page, from the lowest id
		var spans pageText
		for {
			var (
				page []records.Row
				last uint64
			)
			select {
			case page = <-free:
			case <-gctx.Done():
				return gctx.Err()
			}
			if err := readPage(gctx, func(ctx context.Context) (err error) {
				page, last, err = s.scanIDs(ctx, after, page[:0], &spans)
				return err
			}); err != nil {
				return err
			}
			n := len(page)
			if n > 0 {
				select {
				case pages <- page:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			if n < pageRows {
				return nil
			}
			after = &last
		}
	})
	for page := range pages {
		for _, r := range page {
			fn(r)
		}
		clear(page) // no row's strings stay reachable from the buffer
		free <- page
	}
	return g.Wait()
}

// readPage runs read, one page's statement of a full read, under
// pageTimeout, and again (twice, one and two seconds later) when it fails
// before the read fails: no statement grows with the table.
func readPage(ctx context.Context, read func(context.Context) error) error {
	var err error
	for try := range 3 {
		if try > 0 && !sleepCtx(ctx, time.Duration(try)*time.Second) {
			return ctx.Err()
		}
		pctx, cancel := context.WithTimeout(ctx, pageTimeout)
		err = read(pctx)
		cancel()
		if err == nil || ctx.Err() != nil {
			break
		}
	}
	return err
}

// pageText is the text of a page of rows as it is read: the names and
// contents back to back, and where each row's are.
type pageText struct {
	buf  []byte
	ends []int // per row: the end of its name, then of its content
}

// scanIDs reads the page of rows after id after (from the first, for nil)
// into page and returns it with the last id. The names and contents of a
// page share one string, made once when the page is read: no allocation
// per row (the loader clones what it keeps of a name).
func (s *mysqlSource) scanIDs(ctx context.Context, after *uint64, page []records.Row, text *pageText) ([]records.Row, uint64, error) {
	// The numbers come as text: the driver boxes every integer it parses
	// (an allocation per row and column), and a page is parsed here instead.
	const cols = "SELECT CAST(id AS CHAR), name, type, content, CAST(ttl AS CHAR) FROM `"
	query, args := cols+s.table+"` ORDER BY id LIMIT "+strconv.Itoa(pageRows), []any(nil)
	if after != nil {
		query, args = cols+s.table+"` WHERE id > ? ORDER BY id LIMIT "+strconv.Itoa(pageRows), []any{*after}
	}
	rows, err := s.db.QueryContext(ctx, s.syncWait+query, args...)
	if err != nil {
		return page, 0, err
	}
	defer rows.Close()
	text.buf, text.ends = text.buf[:0], text.ends[:0]
	var (
		id, name, typ, content, ttl sql.RawBytes
		last                        uint64
	)
	for rows.Next() {
		if err := rows.Scan(&id, &name, &typ, &content, &ttl); err != nil {
			return page, 0, fmt.Errorf("reading table %q: %w", s.table, err)
		}
		if last, err = strconv.ParseUint(string(id), 10, 64); err != nil {
			return page, 0, fmt.Errorf("reading table %q: id %q: %w", s.table, id, err)
		}
		r, err := s.row(nil, typ, nil, ttl)
		if err != nil {
			return page, 0, err
		}
		text.buf = append(text.buf, name...)
		text.ends = append(text.ends, len(text.buf))
		text.buf = append(text.buf, content...)
		text.ends = append(text.ends, len(text.buf))
		page = append(page, r)
	}
	if err := rows.Err(); err != nil {
		return page, 0, err
	}
	all, start := string(text.buf), 0
	for i := range page {
		page[i].Name, page[i].Content = all[start:text.ends[2*i]], all[text.ends[2*i]:text.ends[2*i+1]]
		start = text.ends[2*i+1]
	}
	return page, last, nil
}

// ByName implements Source: pages of pageRows in name order, by keyset on
// the name (the table's name index), each its own statement under
// pageTimeout and read again twice when it fails (readPage). A full page
// holds its last name back for the next, which starts at it; a page that is
// one name only (past records.MaxRecords) is given as it is, its last row's
// Cut set, and the next page starts after it. Names that sort below the
// empty string under PAD SPACE (a first byte below a space) are not read:
// they are not valid names, and would only have been counted as invalid
// rows.
func (s *mysqlSource) ByName(ctx context.Context, fn func([]records.Row)) error {
	var (
		page  []records.Row
		after *string // nil: the first page
	)
	for {
		if err := readPage(ctx, func(ctx context.Context) error {
			page = page[:0]
			return s.scanNames(ctx, after, func(r records.Row) { page = append(page, r) })
		}); err != nil {
			return err
		}
		end := len(page)
		if end == pageRows {
			last := page[end-1].Name
			for end > 0 && sameName(page[end-1].Name, last) {
				end--
			}
			if end == 0 {
				end = len(page)
				page[end-1].Cut = 1 // more may follow, unread: the loader reads the name by name
			}
		}
		for i := 0; i < end; {
			j := i + 1
			for j < end && sameName(page[j].Name, page[i].Name) {
				j++
			}
			fn(page[i:j])
			i = j
		}
		if len(page) < pageRows {
			return nil
		}
		last := page[end-1].Name
		after = &last
		clear(page) // no row's strings stay reachable from the buffer
	}
}

// sameName reports whether a and b are one name to the name column's
// collation (ascii_general_ci, which ignores case and trailing spaces).
func sameName(a, b string) bool {
	return strings.EqualFold(strings.TrimRight(a, " "), strings.TrimRight(b, " "))
}

// scanNames reads the page of rows whose names come after after (from the
// first, for nil), in name order.
func (s *mysqlSource) scanNames(ctx context.Context, after *string, fn func(records.Row)) error {
	// The first page is a range too (name >= ''): without a condition on
	// the name the server sorts the whole table instead of reading the
	// index.
	const cols = "SELECT name, type, content, CAST(ttl AS CHAR) FROM `"
	query, args := cols+s.table+"` WHERE name >= '' ORDER BY name, id LIMIT "+strconv.Itoa(pageRows), []any(nil)
	if after != nil {
		query, args = cols+s.table+"` WHERE name > ? ORDER BY name, id LIMIT "+strconv.Itoa(pageRows), []any{*after}
	}
	rows, err := s.db.QueryContext(ctx, s.syncWait+query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var name, typ, content, ttl sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&name, &typ, &content, &ttl); err != nil {
			return fmt.Errorf("reading table %q: %w", s.table, err)
		}
		r, err := s.row(name, typ, content, ttl)
		if err != nil {
			return err
		}
		fn(r)
	}
	return rows.Err()
}

// row makes a row of a full read's columns, the TTL read as text.
func (s *mysqlSource) row(name, typ, content, ttl sql.RawBytes) (records.Row, error) {
	r := records.Row{Name: string(name), Type: typeName(typ), Content: string(content), TTLNull: ttl == nil}
	if ttl != nil {
		var err error
		if r.TTL, err = strconv.ParseInt(string(ttl), 10, 64); err != nil {
			return r, fmt.Errorf("reading table %q: ttl %q: %w", s.table, ttl, err)
		}
	}
	return r, nil
}

// typeName returns t as a string, the common types without allocating.
func typeName(t []byte) string {
	switch string(t) { // compiled without a conversion
	case "A":
		return "A"
	case "AAAA":
		return "AAAA"
	case "TXT":
		return "TXT"
	case "CNAME":
		return "CNAME"
	}
	return string(t)
}

// scan runs query and hands every row to fn.
func (s *mysqlSource) scan(ctx context.Context, query string, args []any, fn func(records.Row)) error {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var (
		name, typ, content sql.RawBytes
		ttl                sql.NullInt64
		cut                int64
	)
	for rows.Next() {
		if err := rows.Scan(&name, &typ, &content, &ttl, &cut); err != nil {
			return fmt.Errorf("reading table %q: %w", s.table, err)
		}
		fn(records.Row{Name: string(name), Type: string(typ), Content: string(content), TTL: ttl.Int64, TTLNull: !ttl.Valid, Cut: cut})
	}
	return rows.Err()
}

// Size implements Source.
func (s *mysqlSource) Size(ctx context.Context) int {
	ctx, cancel := call(ctx)
	defer cancel()
	var n sql.NullInt64
	q := "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?"
	if err := s.db.QueryRowContext(ctx, q, s.table).Scan(&n); err != nil {
		return 0
	}
	return int(n.Int64)
}

// Close implements Source.
func (s *mysqlSource) Close() {
	s.setNodes(nil)
	s.db.Close()
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}
