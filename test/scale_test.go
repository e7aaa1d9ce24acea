//go:build scale

package test

import (
	"database/sql"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dbrecords/dbrecords/test/dbsetup"

	"github.com/miekg/dns"
)

// The scale run (make test-scale): a million rows, two replicas, concurrent
// writers with long transactions; it reports propagation percentiles and the
// database cost of polling, and checks that both replicas end up equal to the
// table. DBRECORDS_SCALE_ROWS changes the row count.

func scaleRows(t *testing.T) int {
	t.Helper()
	n := 1000000
	if v := os.Getenv("DBRECORDS_SCALE_ROWS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1000 {
			t.Fatalf("Expected DBRECORDS_SCALE_ROWS to be a number of at least 1000, got %q", v)
		}
	}
	return n
}

// globalStatus sums the server's status counters matching pattern (a LIKE pattern).
func globalStatus(t *testing.T, db *sql.DB, pattern string) float64 {
	t.Helper()
	rows, err := db.Query("SHOW GLOBAL STATUS LIKE '" + pattern + "'")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	sum := 0.0
	for rows.Next() {
		var k string
		var v float64
		if err := rows.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		sum += v
	}
	return sum
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// scaleRun is what TestScale measures.
type scaleRun struct {
	n                     int
	readyIn               []time.Duration
	perPollQ, perPollRows float64
	idle, busy            []time.Duration
	burstChanges          int
	lat                   map[string][]time.Duration
	touched               int
	converged             time.Duration
	rssLoaded, rssPeak    int           // KiB: after the first load; highest over two background re-reads
	warmReady             time.Duration // start to ready from the snapshot file, the database down
	rssWarm, snapBytes    int           // KiB after that start; the file's size in bytes
	reloads               []reloadCost
}

// reloadCost is what one reload of a loaded replica cost.
type reloadCost struct {
	what           string
	took, newTTLIn time.Duration // to "Reloading complete"; to the new TTL being served
	failed, asked  int           // queries not answered NOERROR during the reload
	rssBefore, hwm int           // KiB
}

// measureReload reloads s with edit while querying it, until the reload
// completes and, when wantTTL is set, the new TTL is served.
func measureReload(t *testing.T, s *server, what string, edit func(string) string, wantTTL uint32) reloadCost {
	t.Helper()
	c := reloadCost{what: what, rssBefore: procStatus(t, s.cmd.Process.Pid, "VmRSS")}
	began := time.Now()
	done := s.reload(t, edit)
	m := new(dns.Msg)
	m.SetQuestion("app-7.example.org.", dns.TypeA)
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); {
		resp, err := dns.Exchange(m, s.dns)
		c.asked++
		if err != nil || resp.Rcode != dns.RcodeSuccess {
			c.failed++
		}
		if c.took == 0 && strings.Count(s.out.String(), "Reloading complete") > done {
			c.took = time.Since(began)
		}
		if c.took > 0 && (wantTTL == 0 || err == nil && len(resp.Answer) > 0 && resp.Answer[0].Header().Ttl == wantTTL) {
			c.newTTLIn = time.Since(began)
			break
		}
	}
	c.hwm = procStatus(t, s.cmd.Process.Pid, "VmHWM")
	return c
}

// procStatus returns a field of /proc/PID/status in KiB (VmRSS, VmHWM).
func procStatus(t *testing.T, pid int, field string) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	t.Fatalf("Expected %s in /proc/%d/status", field, pid)
	return 0
}

func TestScale(t *testing.T) {
	run := scaleRun{n: scaleRows(t)}
	db, dsn := newDB(t)
	db.SetMaxOpenConns(16)
	began := time.Now()
	if err := dbsetup.LoadApps(t.Context(), db, "example.org", run.n); err != nil {
		t.Fatal(err)
	}
	t.Logf("Loaded %d names in %s", run.n, time.Since(began).Round(time.Millisecond))

	replicas := make([]*server, 0, 2)
	for range 2 {
		began := time.Now()
		replicas = append(replicas, start(t, dsn))
		run.readyIn = append(run.readyIn, time.Since(began))
	}

	// Idle polling cost per replica and period, with the table at full size.
	q0, r0 := globalStatus(t, db, "Questions"), globalStatus(t, db, "Handler_read%")
	time.Sleep(10 * time.Second)
	q1, r1 := globalStatus(t, db, "Questions"), globalStatus(t, db, "Handler_read%")
	polls := 10.0 * float64(len(replicas)) // refresh 1s
	run.perPollQ, run.perPollRows = (q1-q0-2)/polls, (r1-r0)/polls

	// Query latency idle, then during a burst of 1,000 changes a second.
	run.idle = queryLatencies(t, replicas[0], run.n, 10*time.Second)
	var bw sync.WaitGroup
	bw.Go(func() { run.burstChanges = burst(t, db, run.n, 10*time.Second) })
	run.busy = queryLatencies(t, replicas[0], run.n, 10*time.Second)
	bw.Wait()

	stopWriters := startWriters(t, db, run.n)
	run.lat = probe(t, db, replicas)
	names := stopWriters()
	run.touched = len(names)
	run.converged = converge(t, replicas, tableA(t, db, names), 30*time.Second)

	// Reloads at full size: one that leaves dbrecords as it is, one that
	// changes the ttl (a background re-read).
	run.reloads = append(run.reloads,
		measureReload(t, replicas[0], "another plugin added", func(c string) string { return strings.Replace(c, "\tprometheus", "\terrors\n\tprometheus", 1) }, 0),
		measureReload(t, replicas[0], "ttl changed", func(c string) string { return strings.Replace(c, "refresh 1s", "refresh 1s\n\t\tttl 61", 1) }, 61))

	// Memory: a replica that reads the whole table again in the background.
	snapDir := t.TempDir()
	p := newProxy(t) // the file is for the address the replica knows: down for the warm start
	p.up(t)
	m := start(t, p.dsn(t, dsn), "reconcile 2s", "snapshot "+snapDir)
	run.rssLoaded = procStatus(t, m.cmd.Process.Pid, "VmRSS")
	waitFor(t, 2*time.Minute, "two background re-reads", func() bool {
		return m.counter(t, "coredns_dbrecords_full_reads_total", `reason="reconcile"`) >= 2
	})
	run.rssPeak = procStatus(t, m.cmd.Process.Pid, "VmHWM")

	// A restart from the snapshot file that replica writes at shutdown,
	// with the database unreachable.
	m.stop()
	if files, _ := filepath.Glob(filepath.Join(snapDir, "*.snapshot")); len(files) == 1 {
		if fi, err := os.Stat(files[0]); err == nil {
			run.snapBytes = int(fi.Size())
		}
	}
	began = time.Now()
	p.down()
	w := start(t, p.dsn(t, dsn), "snapshot "+snapDir)
	run.warmReady = time.Since(began)
	run.rssWarm = procStatus(t, w.cmd.Process.Pid, "VmRSS")
	if got := answerA(t, w, "app-7.example.org."); got == "NXDOMAIN" {
		t.Errorf("Expected app-7.example.org from the snapshot file, got %s", got)
	}

	report := run.report()
	fmt.Println(report)
	if dir := os.Getenv("DBRECORDS_RESULTS"); dir != "" {
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "scale-"+time.Now().UTC().Format("20060102-150405")+".md"), []byte(report), 0o644)
	}
	var all []time.Duration
	for _, l := range run.lat {
		all = append(all, l...)
	}
	if p99 := percentile(all, 0.99); p99 > 2*time.Second {
		t.Errorf("Expected propagation p99 within 2s, got %s", p99)
	}
	// The store's targets at a million names (docs/performance.md, "Memory").
	if run.n == 1000000 {
		if run.rssLoaded > 128<<10 || run.rssPeak > 160<<10 {
			t.Errorf("Expected at most 128 MiB of RSS after the first load and 160 MiB at the peak of re-reads, got %d and %d MiB", run.rssLoaded>>10, run.rssPeak>>10)
		}
		if slowest := slices.Max(run.readyIn); slowest > 2*time.Second {
			t.Errorf("Expected every replica ready within 2 s of its start, got %s", slowest)
		}
	}
}

// startWriters runs four writers on random app names, three in short
// transactions and one holding each transaction open for 3 s. The returned
// function stops them and returns the names they touched.
func startWriters(t *testing.T, db *sql.DB, n int) (stop func() []string) {
	t.Helper()
	var touched sync.Map
	done := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewSource(int64(w)))
			for {
				select {
				case <-done:
					return
				default:
				}
				tx, err := db.Begin()
				if err != nil {
					t.Error(err)
					return
				}
				for range 1 + r.Intn(5) {
					name := fmt.Sprintf("app-%d.example.org", r.Intn(n))
					touched.Store(name, true)
					if err = randomWrite(tx, r, name); err != nil {
						break
					}
				}
				if w == 3 {
					time.Sleep(3 * time.Second)
				}
				if err != nil {
					tx.Rollback()
					continue
				}
				tx.Commit()
				time.Sleep(time.Duration(r.Intn(20)) * time.Millisecond)
			}
		})
	}
	// One writer commits a 100,000-row transaction (one INSERT ... SELECT,
	// held open 2 s) while the others write and the probes run.
	wg.Go(func() {
		tx, err := db.Begin()
		if err != nil {
			t.Error(err)
			return
		}
		if _, err := tx.Exec("INSERT INTO dns_records (name, type, content) SELECT CONCAT('bulk-', seq, '.example.org'), 'A', '192.0.2.77' FROM seq_0_to_99999"); err != nil {
			t.Errorf("Expected the 100,000-row insert to succeed, got %v", err)
			tx.Rollback()
			return
		}
		time.Sleep(2 * time.Second)
		if err := tx.Commit(); err != nil {
			t.Error(err)
		}
		for i := 0; i < 100000; i += 100 { // a sample of 1,000 for the convergence check
			touched.Store(fmt.Sprintf("bulk-%d.example.org", i), true)
		}
	})
	return func() []string {
		close(done)
		wg.Wait()
		var names []string
		touched.Range(func(k, _ any) bool { names = append(names, k.(string)); return true })
		return names
	}
}

// randomWrite inserts, updates or deletes an A row of name.
func randomWrite(tx *sql.Tx, r *rand.Rand, name string) error {
	var err error
	switch r.Intn(3) {
	case 0:
		_, err = tx.Exec("INSERT INTO dns_records (name, type, content) VALUES (?, 'A', ?)", name, fmt.Sprintf("172.16.%d.%d", r.Intn(256), r.Intn(256)))
	case 1:
		_, err = tx.Exec("UPDATE dns_records SET content = ? WHERE name = ? AND type = 'A'", fmt.Sprintf("172.17.%d.%d", r.Intn(256), r.Intn(256)), name)
	default:
		_, err = tx.Exec("DELETE FROM dns_records WHERE name = ? AND type = 'A' LIMIT 1", name)
	}
	return err
}

// probe measures commit → first correct answer on every replica for 20
// inserts, updates and deletes, each committed at a random point of the poll period.
func probe(t *testing.T, db *sql.DB, replicas []*server) map[string][]time.Duration {
	t.Helper()
	lat := map[string][]time.Duration{}
	var mu sync.Mutex
	for k := range 20 {
		name := fmt.Sprintf("probe-%d.example.org", k)
		for _, op := range []struct{ kind, sql, want string }{
			{"insert", "INSERT INTO dns_records (name, type, content) VALUES (?, 'A', '192.0.2.1')", "192.0.2.1"},
			{"update", "UPDATE dns_records SET content = '192.0.2.2' WHERE name = ?", "192.0.2.2"},
			{"delete", "DELETE FROM dns_records WHERE name = ?", "NXDOMAIN"},
		} {
			time.Sleep(time.Duration(rand.Intn(1000)) * time.Millisecond)
			exec1(t, db, op.sql, name)
			committed := time.Now()
			var pw sync.WaitGroup
			for _, s := range replicas {
				pw.Go(func() {
					for answerA(t, s, name+".") != op.want {
						if time.Since(committed) > 30*time.Second {
							t.Errorf("Expected %s of %s to arrive, got nothing in 30s", op.kind, name)
							return
						}
						time.Sleep(5 * time.Millisecond)
					}
					mu.Lock()
					lat[op.kind] = append(lat[op.kind], time.Since(committed))
					mu.Unlock()
				})
			}
			pw.Wait()
		}
	}
	return lat
}

func (run *scaleRun) report() string {
	ms := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	us := func(d time.Duration) time.Duration { return d.Round(time.Microsecond) }
	var b strings.Builder
	fmt.Fprintf(&b, "# dbrecords scale run, %s\n\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "Command: `make test-scale` (%d names, %d rows incl. AAAA; 2 replicas; refresh 1s; 4 writers, one holding transactions 3 s; one 100,000-row transaction).\n\n", run.n, run.n+run.n/4)
	fmt.Fprintf(&b, "| measure | value |\n| --- | --- |\n")
	fmt.Fprintf(&b, "| start to ready (replica 1, 2) | %s, %s |\n", ms(run.readyIn[0]), ms(run.readyIn[1]))
	var all []time.Duration
	for _, kind := range []string{"insert", "update", "delete"} {
		all = append(all, run.lat[kind]...)
		fmt.Fprintf(&b, "| propagation %s p50 / p99 | %s / %s |\n", kind, ms(percentile(run.lat[kind], 0.5)), ms(percentile(run.lat[kind], 0.99)))
	}
	fmt.Fprintf(&b, "| propagation all p50 / p99 (%d samples) | %s / %s |\n", len(all), ms(percentile(all, 0.5)), ms(percentile(all, 0.99)))
	fmt.Fprintf(&b, "| idle poll cost per replica and period | %.1f queries, %.1f handler row reads |\n", run.perPollQ, run.perPollRows)
	fmt.Fprintf(&b, "| query latency idle p50 / p99 / max (%d queries) | %s / %s / %s |\n", len(run.idle),
		us(percentile(run.idle, 0.5)), us(percentile(run.idle, 0.99)), us(percentile(run.idle, 1)))
	fmt.Fprintf(&b, "| query latency during %d changes/s p50 / p99 / max (%d queries) | %s / %s / %s |\n", run.burstChanges/10, len(run.busy),
		us(percentile(run.busy, 0.5)), us(percentile(run.busy, 0.99)), us(percentile(run.busy, 1)))
	fmt.Fprintf(&b, "| RSS after the first load; peak over two background re-reads | %d MiB; %d MiB |\n", run.rssLoaded/1024, run.rssPeak/1024)
	fmt.Fprintf(&b, "| start to ready from the snapshot file, database down; RSS then; file size | %s; %d MiB; %d MiB |\n", ms(run.warmReady), run.rssWarm/1024, run.snapBytes>>20)
	for _, r := range run.reloads {
		fmt.Fprintf(&b, "| reload (%s): complete in; new TTL served in; queries failed; RSS before, peak | %s; %s; %d of %d; %d MiB, %d MiB |\n",
			r.what, ms(r.took), ms(r.newTTLIn), r.failed, r.asked, r.rssBefore/1024, r.hwm/1024)
	}
	fmt.Fprintf(&b, "| names touched by writers, converged after writers stopped in | %d, %s |\n", run.touched, ms(run.converged))
	return b.String()
}

// queryLatencies sends sequential queries for existing names to s for d and
// returns their round-trip times.
func queryLatencies(t *testing.T, s *server, n int, d time.Duration) []time.Duration {
	t.Helper()
	c := dns.Client{Timeout: 2 * time.Second}
	conn, err := c.Dial(s.dns)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var out []time.Duration
	r := rand.New(rand.NewSource(1))
	for end := time.Now().Add(d); time.Now().Before(end); {
		m := new(dns.Msg)
		m.SetQuestion(fmt.Sprintf("app-%d.example.org.", r.Intn(n)), dns.TypeA)
		began := time.Now()
		if _, _, err := c.ExchangeWithConn(m, conn); err != nil {
			t.Errorf("Expected an answer, got %v", err)
			return out
		}
		out = append(out, time.Since(began))
	}
	return out
}

// burst runs 1,000 row changes a second (ten 100-row UPDATEs) for d.
func burst(t *testing.T, db *sql.DB, n int, d time.Duration) int {
	t.Helper()
	changes := 0
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for end := time.Now().Add(d); time.Now().Before(end); <-tick.C {
		from := rand.Intn(n - 100)
		exec1(t, db, "UPDATE dns_records SET content = CONCAT('10.200.', id % 256, '.', ?) WHERE type = 'A' AND id BETWEEN ? AND ?", changes%256, from, from+99)
		changes += 100
	}
	return changes
}
