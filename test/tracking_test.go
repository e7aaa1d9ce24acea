package test

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// counter returns the value of the series of name whose labels contain all
// of want (e.g. `reason="gap"`), or 0 when there is none.
func (s *server) counter(t *testing.T, name string, want ...string) float64 {
	t.Helper()
	for _, l := range s.metricLines(t, name+"{") {
		labels, value, ok := strings.Cut(l, "} ")
		if !ok {
			continue
		}
		all := true
		for _, w := range want {
			all = all && strings.Contains(labels, w)
		}
		if all {
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				t.Fatalf("Expected a number in %q, got %v", l, err)
			}
			return v
		}
	}
	return 0
}

// soaSerial returns zone's SOA serial as s serves it.
func soaSerial(t *testing.T, s *server, zone string) uint32 {
	t.Helper()
	resp := query(t, s.dns, "udp", zone, dns.TypeSOA)
	if len(resp.Answer) != 1 {
		t.Fatalf("Expected one SOA for %s, got %v", zone, resp.Answer)
	}
	return resp.Answer[0].(*dns.SOA).Serial
}

// conn returns a connection of its own, for session variables and transactions.
func conn(t *testing.T, db *sql.DB) *sql.Conn {
	t.Helper()
	c, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestBigTransactionCommitsLast: one transaction writes 12,000 names with one
// INSERT ... SELECT and commits after a concurrent writer; every name is
// served, and the gap metric empties.
func TestBigTransactionCommitsLast(t *testing.T) {
	db, dsn := newDB(t)
	s := start(t, dsn)
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("INSERT INTO dns_records (name, type, content) SELECT CONCAT('big-', seq, '.example.org'), 'A', '192.0.2.7' FROM seq_0_to_11999"); err != nil {
		t.Fatalf("Expected the bulk insert to succeed (MariaDB's sequence engine), got %v", err)
	}
	exec1(t, db, "INSERT INTO dns_records (name, type, content) VALUES ('fast.example.org', 'A', '192.0.2.8')")
	waitFor(t, 5*time.Second, "the later writer's commit", func() bool { return answerA(t, s, "fast.example.org.") == "192.0.2.8" })
	waitFor(t, 5*time.Second, "the open transaction's 12,000 numbers in the gap gauge", func() bool {
		return s.counter(t, "coredns_dbrecords_gap_numbers") == 12000
	})
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "all 12,001 records", func() bool { return s.counter(t, "coredns_dbrecords_records") == 12001 })
	for _, i := range []int{0, 1, 5000, 10000, 11998, 11999} {
		if got := answerA(t, s, fmt.Sprintf("big-%d.example.org.", i)); got != "192.0.2.7" {
			t.Errorf("Expected big-%d.example.org to be served, got %s", i, got)
		}
	}
	if n := s.counter(t, "coredns_dbrecords_gap_numbers"); n != 0 {
		t.Errorf("Expected no gap once the transaction committed, got %v", n)
	}
}

// TestAutoIncrementIncrement: writers whose sessions step sequence numbers by
// 3 from different offsets, as Galera and multi-primary servers do, commit out
// of order; every change is served and no gap lingers.
func TestAutoIncrementIncrement(t *testing.T) {
	db, dsn := newDB(t)
	s := start(t, dsn)
	writers := make([]*sql.Conn, 3)
	for i := range writers {
		writers[i] = conn(t, db)
		if _, err := writers[i].ExecContext(context.Background(), fmt.Sprintf("SET SESSION auto_increment_increment = 3, auto_increment_offset = %d", i+1)); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	held, err := writers[0].BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := held.Exec("INSERT INTO dns_records (name, type, content) VALUES ('held.example.org', 'A', '192.0.2.1')"); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"held.example.org": "192.0.2.1"}
	for i := range 30 {
		name := fmt.Sprintf("n%d.example.org", i)
		ip := fmt.Sprintf("192.0.2.%d", 10+i)
		if _, err := writers[i%3].ExecContext(ctx, "INSERT INTO dns_records (name, type, content) VALUES (?, 'A', ?)", name, ip); err != nil {
			t.Fatal(err)
		}
		want[name] = ip
	}
	waitFor(t, 5*time.Second, "the committed writes", func() bool { return answerA(t, s, "n29.example.org.") == "192.0.2.39" })
	if err := held.Commit(); err != nil {
		t.Fatal(err)
	}
	converge(t, []*server{s}, want, 10*time.Second)
	waitFor(t, 10*time.Second, "the gaps to close", func() bool { return s.counter(t, "coredns_dbrecords_gap_numbers") == 0 })
	if n := s.counter(t, "coredns_dbrecords_full_reads_total", `reason="gap"`); n != 0 {
		t.Errorf("Expected no full read for gaps, got %v", n)
	}
}

// TestFreshInstallOutOfOrder: on an empty log the first number is held by an
// open transaction while the second commits; the replica must not take the
// log for pruned, and the first transaction's change arrives.
func TestFreshInstallOutOfOrder(t *testing.T) {
	db, dsn := newDB(t)
	first, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.Exec("INSERT INTO dns_records (name, type, content) VALUES ('first.example.org', 'A', '192.0.2.1')"); err != nil {
		t.Fatal(err)
	}
	s := start(t, dsn)
	exec1(t, db, "INSERT INTO dns_records (name, type, content) VALUES ('second.example.org', 'A', '192.0.2.2')")
	waitFor(t, 5*time.Second, "the second transaction", func() bool { return answerA(t, s, "second.example.org.") == "192.0.2.2" })
	serialBefore := soaSerial(t, s, "example.org.")
	if err := first.Commit(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the first transaction", func() bool { return answerA(t, s, "first.example.org.") == "192.0.2.1" })
	if n := s.counter(t, "coredns_dbrecords_full_reads_total", `reason="pruned"`); n != 0 {
		t.Errorf("Expected no full read for a pruned log, got %v", n)
	}
	waitFor(t, 5*time.Second, "the serial to reach the last change", func() bool { return soaSerial(t, s, "example.org.") == 2 })
	if serialBefore != 0 {
		t.Errorf("Expected the serial to wait at 0 for the open first transaction, got %d", serialBefore)
	}
}

// TestSerialsAgree: two replicas, one started after the writes, report the
// same serial per zone; a zone that was not written keeps its serial; a
// restart and periodic re-reads do not move it.
func TestSerialsAgree(t *testing.T) {
	db, dsn := newDB(t)
	a := start(t, dsn, "reconcile 1s")
	exec1(t, db, "INSERT INTO dns_records (name, type, content) VALUES ('a.example.net', 'A', '192.0.2.1')")
	for i := range 5 {
		exec1(t, db, "INSERT INTO dns_records (name, type, content) VALUES (?, 'A', '192.0.2.2')", fmt.Sprintf("n%d.example.org", i))
	}
	waitFor(t, 5*time.Second, "the writes", func() bool { return answerA(t, a, "n4.example.org.") == "192.0.2.2" })
	b := start(t, dsn)
	want := map[string]uint32{"example.org.": 6, "example.net.": 1}
	for zone, serial := range want {
		waitFor(t, 5*time.Second, "serial "+fmt.Sprint(serial)+" of "+zone+" on both replicas", func() bool {
			return soaSerial(t, a, zone) == serial && soaSerial(t, b, zone) == serial
		})
	}
	waitFor(t, 10*time.Second, "two periodic re-reads", func() bool {
		return a.counter(t, "coredns_dbrecords_full_reads_total", `reason="reconcile"`) >= 2
	})
	b.stop()
	c := start(t, dsn)
	for zone, serial := range want {
		if got, gotA := soaSerial(t, c, zone), soaSerial(t, a, zone); got != serial || gotA != serial {
			t.Errorf("Expected %s serial %d after re-reads and a restart, got %d (re-read) and %d (restarted)", zone, serial, gotA, got)
		}
	}
}

// TestQuietZoneSerialSteps: the change log is shared by every zone, so a
// zone stays quiet while others take billions of numbers (AUTO_INCREMENT
// stands in for them here). Its serial moves at the epoch marks, and every
// step a secondary sees, its next change included, is an increase in
// RFC 1982 terms: never 2^31 or more.
func TestQuietZoneSerialSteps(t *testing.T) {
	db, dsn := newDB(t)
	exec1(t, db, "INSERT INTO dns_records (name, type, content) VALUES ('a.example.net', 'A', '192.0.2.1')")
	s := start(t, dsn)
	prev := soaSerial(t, s, "example.net.")
	step := func(what string) {
		t.Helper()
		got := soaSerial(t, s, "example.net.")
		if got != prev && !serialLess(prev, got) {
			t.Errorf("Expected example.net's serial to step forward %s, got %d after %d", what, got, prev)
		}
		prev = got
	}
	// Steps of 10^9 numbers, below the 2^30 between two marks: a replica
	// polls far more often than that.
	for i, next := range []uint64{1_000_000_000, 2_000_000_000, 3_000_000_000, 4_000_000_000, 5_000_000_000} {
		exec1(t, db, fmt.Sprintf("ALTER TABLE dns_records_changes AUTO_INCREMENT = %d", next))
		name := fmt.Sprintf("busy%d.example.org", i)
		exec1(t, db, "INSERT INTO dns_records (name, type, content) VALUES (?, 'A', '192.0.2.2')", name)
		waitFor(t, 10*time.Second, "example.org's serial at "+name, func() bool { return soaSerial(t, s, "example.org.") == uint32(next%(1<<32)) })
		step(fmt.Sprintf("while example.org took numbers up to %d", next))
	}
	exec1(t, db, "INSERT INTO dns_records (name, type, content) VALUES ('b.example.net', 'A', '192.0.2.3')")
	waitFor(t, 10*time.Second, "b.example.net served", func() bool { return answerA(t, s, "b.example.net.") == "192.0.2.3" })
	step("at its next change")
	if want := uint32(5_000_000_001 % (1 << 32)); prev != want {
		t.Errorf("Expected example.net's serial to be its change's number %d, got %d", want, prev)
	}
}

// serialLess reports whether a comes before b in RFC 1982 serial arithmetic.
func serialLess(a, b uint32) bool { return a != b && int32(b-a) > 0 } //nolint:gosec // the RFC 1982 comparison

// TestPruneInBatches: the prune procedure deletes a day-old log in batches by
// primary-key range, raises the prune floor, and keeps recent entries.
func TestPruneInBatches(t *testing.T) {
	db, _ := newDB(t)
	exec1(t, db, "INSERT INTO dns_records_changes (name, changed_at) SELECT CONCAT('old-', seq, '.example.org'), NOW(6) - INTERVAL 2 DAY FROM seq_1_to_20000")
	exec1(t, db, "INSERT INTO dns_records_changes (name) VALUES ('recent.example.org')")
	var plan struct {
		key, typ string
	}
	rows, err := db.Query("EXPLAIN DELETE FROM dns_records_changes WHERE seq <= 20000 ORDER BY seq LIMIT 5000")
	if err != nil {
		t.Fatal(err)
	}
	cols, _ := rows.Columns()
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, c := range cols {
			switch c {
			case "key":
				plan.key = vals[i].String
			case "type":
				plan.typ = vals[i].String
			}
		}
	}
	rows.Close()
	if plan.key != "PRIMARY" || plan.typ != "range" {
		t.Errorf("Expected the prune's DELETE to be a range on PRIMARY, got key %q type %q", plan.key, plan.typ)
	}

	start := time.Now()
	exec1(t, db, "CALL dns_records_changes_prune()")
	t.Logf("Pruned 20,000 entries in %.0f ms", time.Since(start).Seconds()*1000)
	var left, floor, recent int
	if err := db.QueryRow("SELECT COUNT(*), (SELECT pruned_below FROM dns_records_prune), (SELECT COUNT(*) FROM dns_records_changes WHERE name = 'recent.example.org') FROM dns_records_changes").Scan(&left, &floor, &recent); err != nil {
		t.Fatal(err)
	}
	if left != 1 || recent != 1 || floor != 20001 {
		t.Errorf("Expected only the recent entry left and the floor at 20001, got %d entries (%d recent) and floor %d", left, recent, floor)
	}
}

// TestBlackHoleReported: a database that stops answering (packets dropped)
// is counted and logged within 5 s, and a change made meanwhile is served
// within 5 s of its return.
func TestBlackHoleReported(t *testing.T) {
	db, s, p := startBehindProxy(t, [][4]any{{"www.example.org", "A", "192.0.2.1", nil}})
	p.hang.Store(true)
	exec1(t, db, "UPDATE dns_records SET content = '192.0.2.2'")
	took := waitFor(t, 5*time.Second, "the hung database to be reported", func() bool {
		return s.counter(t, "coredns_dbrecords_sync_errors_total") > 0 && strings.Contains(s.out.String(), "failed")
	})
	t.Logf("Reported %.1f s after the database stopped answering", took.Seconds())
	servedA(t, s, "192.0.2.1", 3)
	p.hang.Store(false)
	took = waitFor(t, 5*time.Second, "the change after the database returned", func() bool { return answerA(t, s, "www.example.org.") == "192.0.2.2" })
	t.Logf("Caught up %.1f s after the database returned", took.Seconds())
}
