package test

import (
	"database/sql"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// servedA asserts that www.example.org is answered with want, from memory.
func servedA(t *testing.T, s *server, want string, times int) {
	t.Helper()
	for range times {
		if got := answerA(t, s, "www.example.org."); got != want {
			t.Fatalf("Expected www.example.org %s from memory, got %s", want, got)
		}
	}
}

// keepsServing asserts for d that www.example.org is answered with want from
// memory, and that the replica stays ready, while the database is unavailable.
func keepsServing(t *testing.T, s *server, want string, d time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		servedA(t, s, want, 10)
	}
	if got := s.readyStatus(); got != http.StatusOK {
		t.Errorf("Expected to stay ready while the database is unavailable, got %d", got)
	}
}

// killConnections KILLs the server's connections that match where (a
// PROCESSLIST condition with args).
func killConnections(t *testing.T, db *sql.DB, where string, args ...any) {
	t.Helper()
	rows, err := db.Query("SELECT ID FROM information_schema.PROCESSLIST WHERE "+where, args...)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	for _, id := range ids {
		db.Exec(fmt.Sprintf("KILL %d", id)) // it may have closed already
	}
}

// TestKilledConnections: the plugin's connections are killed in SQL; it
// reconnects and keeps following changes.
func TestKilledConnections(t *testing.T) {
	db, dsn := newDB(t)
	insertRows(t, db, [][4]any{{"www.example.org", "A", "192.0.2.1", nil}})
	s := start(t, dsn)

	for round := range 3 {
		killConnections(t, db, "DB = DATABASE() AND ID <> CONNECTION_ID()")
		want := fmt.Sprintf("192.0.2.%d", 10+round)
		exec1(t, db, "UPDATE dns_records SET content = ?", want)
		waitFor(t, 10*time.Second, "the change after KILL", func() bool { return answerA(t, s, "www.example.org.") == want })
	}
}

// TestSlowAndHungDatabase: seconds of latency, then a connection that stops
// answering altogether. Queries keep being answered from memory throughout,
// errors are counted, and changes arrive once the database recovers.
func TestSlowAndHungDatabase(t *testing.T) {
	db, s, p := startBehindProxy(t, [][4]any{{"www.example.org", "A", "192.0.2.1", nil}})

	p.delay.Store(int64(2 * time.Second))
	exec1(t, db, "UPDATE dns_records SET content = '192.0.2.2'")
	servedA(t, s, "192.0.2.1", 1) // the poll now takes seconds; queries do not wait for it
	waitFor(t, 20*time.Second, "the change through a slow database", func() bool { return answerA(t, s, "www.example.org.") == "192.0.2.2" })

	p.delay.Store(0)
	p.hang.Store(true)
	exec1(t, db, "UPDATE dns_records SET content = '192.0.2.3'")
	keepsServing(t, s, "192.0.2.2", 8*time.Second)
	waitFor(t, 10*time.Second, "the hung sync to time out and be counted", func() bool {
		l := s.metricLines(t, "coredns_dbrecords_sync_errors_total{")
		return len(l) == 1 && !strings.HasSuffix(l[0], " 0")
	})
	p.hang.Store(false)
	p.down() // the held connections are broken; new ones are not
	p.up(t)
	waitFor(t, 20*time.Second, "the change after the hang", func() bool { return answerA(t, s, "www.example.org.") == "192.0.2.3" })
}

// TestDatabaseProcessRestart stops the MariaDB process under a loaded replica
// and starts it again.
func TestDatabaseProcessRestart(t *testing.T) {
	m := newPrivateMariaDB(t)
	t.Setenv("MYSQL_DSN", m.dsn(""))
	db, dsn := newDB(t)
	insertRows(t, db, [][4]any{{"www.example.org", "A", "192.0.2.1", nil}})
	s := start(t, dsn)

	m.stop(t)
	keepsServing(t, s, "192.0.2.1", 3*time.Second)

	m.start(t)
	exec1(t, db, "UPDATE dns_records SET content = '192.0.2.2'")
	waitFor(t, 20*time.Second, "the change after MariaDB restarted", func() bool { return answerA(t, s, "www.example.org.") == "192.0.2.2" })
	servedA(t, s, "192.0.2.2", 1)
	if resp := query(t, s.dns, "tcp", "example.org.", dns.TypeSOA); len(resp.Answer) != 1 {
		t.Errorf("Expected the apex SOA after the restart, got %v", resp.Answer)
	}
}

// TestLogPrunedWhileAway: while a replica cannot reach the database, changes
// happen and the change log is pruned past its position; when it returns it
// notices, reloads the whole table and serves it exactly.
func TestLogPrunedWhileAway(t *testing.T) {
	db, s, p := startBehindProxy(t, [][4]any{{"www.example.org", "A", "192.0.2.1", nil}, {"gone.example.org", "A", "192.0.2.9", nil}})

	p.down()
	exec1(t, db, "UPDATE dns_records SET content = '192.0.2.2' WHERE name = 'www.example.org'")
	exec1(t, db, "DELETE FROM dns_records WHERE name = 'gone.example.org'")
	exec1(t, db, "INSERT INTO dns_records (name, type, content) VALUES ('new.example.org', 'A', '192.0.2.3')")
	// A day passes, and the prune event runs.
	exec1(t, db, "UPDATE dns_records_changes SET changed_at = NOW(6) - INTERVAL 2 DAY")
	exec1(t, db, "CALL dns_records_changes_prune()")
	p.up(t)

	waitFor(t, 15*time.Second, "the replica to reload after the log was pruned", func() bool {
		return answerA(t, s, "www.example.org.") == "192.0.2.2" && answerA(t, s, "gone.example.org.") == "NXDOMAIN" &&
			answerA(t, s, "new.example.org.") == "192.0.2.3"
	})
	if !strings.Contains(s.out.String(), "the change log was pruned past entries this replica had not read") {
		t.Errorf("Expected the reload to be logged, got:\n%s", s.out.String())
	}
}

// TestReconcileHealsInvisibleChanges: a TRUNCATE fires no trigger, so the
// change log never mentions it; the periodic full reload (reconcile) catches it.
func TestReconcileHealsInvisibleChanges(t *testing.T) {
	db, dsn := newDB(t)
	insertRows(t, db, [][4]any{{"www.example.org", "A", "192.0.2.1", nil}})
	s := start(t, dsn, "reconcile 2s")
	exec1(t, db, "TRUNCATE TABLE dns_records")
	exec1(t, db, "INSERT INTO dns_records (name, type, content) VALUES ('after.example.org', 'A', '192.0.2.2')")
	waitFor(t, 10*time.Second, "the truncated row to go after a reconcile", func() bool {
		return answerA(t, s, "www.example.org.") == "NXDOMAIN" && answerA(t, s, "after.example.org.") == "192.0.2.2"
	})
}
