//go:build scale

package test

import (
	"database/sql"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
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
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func TestScale(t *testing.T) {
	n := scaleRows(t)
	db, dsn := newDB(t)
	db.SetMaxOpenConns(16)
	began := time.Now()
	if err := dbsetup.LoadApps(t.Context(), db, "example.org", n); err != nil {
		t.Fatal(err)
	}
	t.Logf("Loaded %d names in %s", n, time.Since(began).Round(time.Millisecond))

	var replicas []*server
	var readyIn []time.Duration
	for range 2 {
		began := time.Now()
		replicas = append(replicas, start(t, dsn))
		readyIn = append(readyIn, time.Since(began))
	}

	// Idle polling cost per replica and period, with the table at full size.
	q0, r0 := globalStatus(t, db, "Questions"), globalStatus(t, db, "Handler_read%")
	time.Sleep(10 * time.Second)
	q1, r1 := globalStatus(t, db, "Questions"), globalStatus(t, db, "Handler_read%")
	polls := 10.0 * float64(len(replicas)) // refresh 1s
	perPollQ, perPollRows := (q1-q0-2)/polls, (r1-r0)/polls

	// Query latency idle, then during a burst of 1,000 changes a second.
	idle := queryLatencies(t, replicas[0], n, 10*time.Second)
	var busy []time.Duration
	var burstChanges int
	var bw sync.WaitGroup
	bw.Add(1)
	go func() {
		defer bw.Done()
		burstChanges = burst(t, db, n, 10*time.Second)
	}()
	busy = queryLatencies(t, replicas[0], n, 10*time.Second)
	bw.Wait()

	// Background writers: three at random, one holding transactions open for 3 s.
	touched := sync.Map{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewSource(int64(w)))
			for {
				select {
				case <-stop:
					return
				default:
				}
				tx, err := db.Begin()
				if err != nil {
					t.Error(err)
					return
				}
				for range 1 + r.Intn(5) {
					i := r.Intn(n)
					name := fmt.Sprintf("app-%d.example.org", i)
					touched.Store(name, true)
					switch r.Intn(3) {
					case 0:
						_, err = tx.Exec("INSERT INTO dns_records (name, type, content) VALUES (?, 'A', ?)", name, fmt.Sprintf("172.16.%d.%d", r.Intn(256), r.Intn(256)))
					case 1:
						_, err = tx.Exec("UPDATE dns_records SET content = ? WHERE name = ? AND type = 'A'", fmt.Sprintf("172.17.%d.%d", r.Intn(256), r.Intn(256)), name)
					case 2:
						_, err = tx.Exec("DELETE FROM dns_records WHERE name = ? AND type = 'A' LIMIT 1", name)
					}
					if err != nil {
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
		}()
	}

	// Probes: commit, then the first correct answer from every replica.
	lat := map[string][]time.Duration{}
	for k := range 20 {
		name := fmt.Sprintf("probe-%d.example.org", k)
		for _, op := range []struct{ kind, sql, want string }{
			{"insert", "INSERT INTO dns_records (name, type, content) VALUES (?, 'A', '192.0.2.1')", "192.0.2.1"},
			{"update", "UPDATE dns_records SET content = '192.0.2.2' WHERE name = ?", "192.0.2.2"},
			{"delete", "DELETE FROM dns_records WHERE name = ?", "NXDOMAIN"},
		} {
			time.Sleep(time.Duration(rand.Intn(1000)) * time.Millisecond) // commit at a random point of the poll period
			exec1(t, db, op.sql, name)
			committed := time.Now()
			var pw sync.WaitGroup
			var mu sync.Mutex
			for _, s := range replicas {
				pw.Add(1)
				go func() {
					defer pw.Done()
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
				}()
			}
			pw.Wait()
		}
	}
	close(stop)
	wg.Wait()

	// Convergence: every touched name, on every replica, equals the table.
	var names []string
	touched.Range(func(k, _ any) bool { names = append(names, k.(string)); return true })
	want := map[string]string{}
	for _, name := range names {
		rows, err := db.Query("SELECT type, content FROM dns_records WHERE name = ?", name)
		if err != nil {
			t.Fatal(err)
		}
		var ips []string
		exists := false
		for rows.Next() {
			var typ, ip string
			rows.Scan(&typ, &ip)
			exists = true
			if typ == "A" {
				ips = append(ips, ip)
			}
		}
		rows.Close()
		sort.Strings(ips)
		want[name] = strings.Join(dedupe(ips), ",") // "" for a name with only AAAA rows: NODATA
		if !exists {
			want[name] = "NXDOMAIN"
		}
	}
	converged := waitFor(t, 30*time.Second, "both replicas to match the table", func() bool {
		for _, s := range replicas {
			for name, w := range want {
				if answerA(t, s, name+".") != w {
					return false
				}
			}
		}
		return true
	})

	var all []time.Duration
	var b strings.Builder
	fmt.Fprintf(&b, "# dbrecords scale run, %s\n\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "Command: `make test-scale` (%d names, %d rows incl. AAAA; 2 replicas; refresh 1s; 4 writers, one holding transactions 3 s).\n\n", n, n+n/4)
	fmt.Fprintf(&b, "| measure | value |\n| --- | --- |\n")
	fmt.Fprintf(&b, "| start to ready (replica 1, 2) | %s, %s |\n", readyIn[0].Round(time.Millisecond), readyIn[1].Round(time.Millisecond))
	for _, kind := range []string{"insert", "update", "delete"} {
		all = append(all, lat[kind]...)
		fmt.Fprintf(&b, "| propagation %s p50 / p99 | %s / %s |\n", kind, percentile(lat[kind], 0.5).Round(time.Millisecond), percentile(lat[kind], 0.99).Round(time.Millisecond))
	}
	fmt.Fprintf(&b, "| propagation all p50 / p99 (%d samples) | %s / %s |\n", len(all), percentile(all, 0.5).Round(time.Millisecond), percentile(all, 0.99).Round(time.Millisecond))
	fmt.Fprintf(&b, "| idle poll cost per replica and period | %.1f queries, %.1f handler row reads |\n", perPollQ, perPollRows)
	fmt.Fprintf(&b, "| query latency idle p50 / p99 / max (%d queries) | %s / %s / %s |\n", len(idle),
		percentile(idle, 0.5).Round(time.Microsecond), percentile(idle, 0.99).Round(time.Microsecond), percentile(idle, 1).Round(time.Microsecond))
	fmt.Fprintf(&b, "| query latency during %d changes/s p50 / p99 / max (%d queries) | %s / %s / %s |\n", burstChanges/10, len(busy),
		percentile(busy, 0.5).Round(time.Microsecond), percentile(busy, 0.99).Round(time.Microsecond), percentile(busy, 1).Round(time.Microsecond))
	fmt.Fprintf(&b, "| names touched by writers, converged after writers stopped in | %d, %s |\n", len(names), converged.Round(time.Millisecond))
	fmt.Println(b.String())
	if dir := os.Getenv("DBRECORDS_RESULTS"); dir != "" {
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "scale-"+time.Now().UTC().Format("20060102-150405")+".md"), []byte(b.String()), 0o644)
	}
	if p99 := percentile(all, 0.99); p99 > 2*time.Second {
		t.Errorf("Expected propagation p99 within 2s, got %s", p99)
	}
}

// queryLatencies sends sequential queries for existing names to s for d and
// returns their round-trip times.
func queryLatencies(t *testing.T, s *server, n int, d time.Duration) []time.Duration {
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
