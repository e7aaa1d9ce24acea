package test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// answerA returns the sorted A addresses s serves for qname ("NXDOMAIN" when
// the name does not exist).
func answerA(t *testing.T, s *server, qname string) string {
	t.Helper()
	return answerAt(t, s.dns, qname)
}

// answerAt is answerA for the DNS server at addr.
func answerAt(t *testing.T, addr, qname string) string {
	t.Helper()
	got, err := lookupA(addr, qname)
	if err != nil {
		t.Fatalf("Expected an answer for %s from %s, got %v", qname, addr, err)
	}
	return got
}

// lookupA is answerAt for a server that may not answer yet.
func lookupA(addr, qname string) (string, error) {
	m := new(dns.Msg)
	m.SetQuestion(qname, dns.TypeA)
	m.RecursionDesired = false
	c := dns.Client{Timeout: 2 * time.Second}
	resp, _, err := c.Exchange(m, addr)
	if err == nil && resp.Truncated {
		c.Net = "tcp"
		resp, _, err = c.Exchange(m, addr)
	}
	if err != nil {
		return "", err
	}
	if resp.Rcode == dns.RcodeNameError {
		return "NXDOMAIN", nil
	}
	var ips []string
	for _, rr := range resp.Answer {
		if a, ok := rr.(*dns.A); ok {
			ips = append(ips, a.A.String())
		}
	}
	sort.Strings(ips)
	return strings.Join(ips, ","), nil
}

func serial(t *testing.T, s *server) uint32 {
	t.Helper()
	resp := query(t, s.dns, "udp", "example.org.", dns.TypeSOA)
	if len(resp.Answer) != 1 {
		t.Fatalf("Expected one SOA, got %v", resp.Answer)
	}
	return resp.Answer[0].(*dns.SOA).Serial
}

// TestFreshness: with refresh 1s an INSERT, an UPDATE and a DELETE are each
// answered within 2 s of their commit, and the SOA serial increases each time.
func TestFreshness(t *testing.T) {
	db, dsn := newDB(t)
	insertRows(t, db, [][4]any{{"keep.example.org", "A", "192.0.2.1", nil}})
	s := start(t, dsn)

	steps := []struct {
		name, sql, want string
	}{
		{name: "insert", sql: "INSERT INTO dns_records (name, type, content) VALUES ('new.example.org', 'A', '192.0.2.10')", want: "192.0.2.10"},
		{name: "update", sql: "UPDATE dns_records SET content = '192.0.2.11' WHERE name = 'new.example.org'", want: "192.0.2.11"},
		{name: "delete", sql: "DELETE FROM dns_records WHERE name = 'new.example.org'", want: "NXDOMAIN"},
	}
	for _, st := range steps {
		before := serial(t, s)
		exec1(t, db, st.sql)
		took := waitFor(t, 2*time.Second, st.name+" to be answered", func() bool {
			return answerA(t, s, "new.example.org.") == st.want
		})
		t.Logf("%s answered %.0f ms after commit", st.name, took.Seconds()*1000)
		if after := serial(t, s); after <= before {
			t.Errorf("Expected the SOA serial to increase after the %s, got %d then %d", st.name, before, after)
		}
	}
	if got := answerA(t, s, "keep.example.org."); got != "192.0.2.1" {
		t.Errorf("Expected untouched names to keep their answer, got %s", got)
	}
}

// TestRenameAndTransactions: an UPDATE of the name moves the record, and a
// transaction that commits after later ones is still picked up.
func TestRenameAndTransactions(t *testing.T) {
	db, dsn := newDB(t)
	insertRows(t, db, [][4]any{{"old.example.org", "A", "192.0.2.1", nil}})
	s := start(t, dsn)

	exec1(t, db, "UPDATE dns_records SET name = 'renamed.example.org' WHERE name = 'old.example.org'")
	waitFor(t, 5*time.Second, "the rename", func() bool {
		return answerA(t, s, "renamed.example.org.") == "192.0.2.1" && answerA(t, s, "old.example.org.") == "NXDOMAIN"
	})

	// A long transaction takes a change number first and commits last.
	ctx := context.Background()
	long, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := long.Exec("INSERT INTO dns_records (name, type, content) VALUES ('slow.example.org', 'A', '192.0.2.2')"); err != nil {
		t.Fatal(err)
	}
	exec1(t, db, "INSERT INTO dns_records (name, type, content) VALUES ('fast.example.org', 'A', '192.0.2.3')")
	// Once fast is served, the replica has polled past the open transaction's number.
	waitFor(t, 5*time.Second, "the later transaction", func() bool { return answerA(t, s, "fast.example.org.") == "192.0.2.3" })
	if err := long.Commit(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the transaction that committed last", func() bool { return answerA(t, s, "slow.example.org.") == "192.0.2.2" })

	// A rolled-back transaction leaves a gap that is never filled; later changes still arrive.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("INSERT INTO dns_records (name, type, content) VALUES ('never.example.org', 'A', '192.0.2.4')"); err != nil {
		t.Fatal(err)
	}
	tx.Rollback()
	exec1(t, db, "INSERT INTO dns_records (name, type, content) VALUES ('after.example.org', 'A', '192.0.2.5')")
	waitFor(t, 5*time.Second, "a change after a rollback", func() bool { return answerA(t, s, "after.example.org.") == "192.0.2.5" })
	if got := answerA(t, s, "never.example.org."); got != "NXDOMAIN" {
		t.Errorf("Expected a rolled-back row to stay absent, got %s", got)
	}
}

// TestConcurrentWritersConverge: writers on several connections use every
// statement shape (multi-row INSERT, INSERT ... SELECT, REPLACE, ON
// DUPLICATE KEY UPDATE, renames, UPDATE, DELETE), some in transactions held
// open for a second, some rolled back; once they stop, two replicas answer
// exactly what the table holds, name by name.
func TestConcurrentWritersConverge(t *testing.T) {
	db, dsn := newDB(t)
	replicas := []*server{start(t, dsn), start(t, dsn)}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewSource(int64(w)))
			for ctx.Err() == nil {
				hold := time.Duration(0)
				if w == 0 {
					hold = time.Second
				}
				write(ctx, db, r, 40, hold)
			}
		})
	}
	wg.Wait()
	converge(t, replicas, tableA(t, db, loggedNames(t, db)), 10*time.Second)
}

// tableA returns what an A query for each name must answer according to the
// table: its distinct A addresses, sorted; "" when it has only other rows;
// "NXDOMAIN" when it has none.
func tableA(t *testing.T, db *sql.DB, names []string) map[string]string {
	t.Helper()
	want := make(map[string]string, len(names))
	for _, name := range names {
		rows, err := db.Query("SELECT type, content FROM dns_records WHERE name = ?", name)
		if err != nil {
			t.Fatal(err)
		}
		var ips []string
		exists := false
		for rows.Next() {
			var typ, ip string
			if err := rows.Scan(&typ, &ip); err != nil {
				t.Fatal(err)
			}
			exists = true
			if typ == "A" {
				ips = append(ips, ip)
			}
		}
		rows.Close()
		sort.Strings(ips)
		want[name] = strings.Join(dedupe(ips), ",")
		if !exists {
			want[name] = "NXDOMAIN"
		}
	}
	return want
}

// converge waits until every replica answers every name as want says, and
// returns how long that took.
func converge(t *testing.T, replicas []*server, want map[string]string, limit time.Duration) time.Duration {
	t.Helper()
	var diff []string
	return waitFor(t, limit, "every replica to match the table", func() bool {
		diff = diff[:0]
		for _, s := range replicas {
			for name, w := range want {
				if got := answerA(t, s, name+"."); got != w {
					diff = append(diff, fmt.Sprintf("%s on %s: want %s, got %s", name, s.dns, w, got))
				}
			}
		}
		if len(diff) > 0 {
			t.Logf("Still different (%d), e.g. %s", len(diff), diff[0])
		}
		return len(diff) == 0
	})
}

func dedupe(sorted []string) []string {
	out := sorted[:0]
	for i, s := range sorted {
		if i == 0 || s != sorted[i-1] {
			out = append(out, s)
		}
	}
	return out
}

// TestTransactionOpenAcrossStart: a transaction that took its change number
// before the replica loaded, and commits after, is still picked up.
func TestTransactionOpenAcrossStart(t *testing.T) {
	db, dsn := newDB(t)
	insertRows(t, db, [][4]any{{"before.example.org", "A", "192.0.2.1", nil}})
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("INSERT INTO dns_records (name, type, content) VALUES ('open.example.org', 'A', '192.0.2.2')"); err != nil {
		t.Fatal(err)
	}
	insertRows(t, db, [][4]any{{"after.example.org", "A", "192.0.2.3", nil}})
	s := start(t, dsn)
	if got := answerA(t, s, "after.example.org."); got != "192.0.2.3" {
		t.Fatalf("Expected the committed row after the open transaction, got %s", got)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the transaction that was open at start-up", func() bool {
		return answerA(t, s, "open.example.org.") == "192.0.2.2"
	})
}
