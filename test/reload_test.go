package test

import (
	"database/sql"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// gauge returns the value of an unlabelled metric.
func (s *server) gauge(t *testing.T, name string) float64 {
	t.Helper()
	lines := s.metricLines(t, name+" ")
	if len(lines) != 1 {
		t.Fatalf("Expected one %s line, got %v", name, lines)
	}
	v, err := strconv.ParseFloat(strings.TrimPrefix(lines[0], name+" "), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// dbConnections counts the server's connections to the database db uses, other than db's own.
func dbConnections(t *testing.T, db *sql.DB) int {
	t.Helper()
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var n int
	if err := conn.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND ID <> CONNECTION_ID()").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestReloadLeavesNothingBehind edits the Corefile and lets the reload plugin
// pick it up, then reloads many more times (SIGUSR1 takes the same restart
// path) and checks that goroutines and database connections stay flat.
func TestReloadLeavesNothingBehind(t *testing.T) {
	db, dsn := newDB(t)
	db.SetMaxIdleConns(0)
	insertRows(t, db, [][4]any{{"www.example.org", "A", "192.0.2.1", nil}})
	s := startCorefile(t, strings.Replace(serverBlock(dsn), "\tprometheus", "\treload 2s 1s\n\tprometheus", 1))
	s.waitReady(t)
	// The reload plugin notices an edited Corefile. (It stops watching after a
	// SIGUSR1 reload, so this comes first.)
	path := s.cmd.Args[len(s.cmd.Args)-1]
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), "refresh 1s", "refresh 1s\n\t\tttl 123", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the edited ttl to be served", func() bool {
		resp := query(t, s.dns, "udp", "www.example.org.", dns.TypeA)
		return len(resp.Answer) == 1 && resp.Answer[0].Header().Ttl == 123
	})
	baseGoroutines := float64(steady(t, func() int64 { return int64(s.gauge(t, "go_goroutines")) }))

	const reloads = 20
	done := strings.Count(s.out.String(), "Reloading complete")
	for i := range reloads {
		if err := s.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 15*time.Second, "reload "+strconv.Itoa(i+1), func() bool {
			return strings.Count(s.out.String(), "Reloading complete") >= done+i+1
		})
	}
	if resp := query(t, s.dns, "udp", "www.example.org.", dns.TypeA); len(resp.Answer) != 1 || resp.Answer[0].Header().Ttl != 123 {
		t.Errorf("Expected the edited Corefile to stay in force, got %v", resp.Answer)
	}

	waitFor(t, 10*time.Second, fmt.Sprintf("about %.0f goroutines and at most 2 database connections (one pool) after %d reloads", baseGoroutines, reloads), func() bool {
		return s.gauge(t, "go_goroutines") <= baseGoroutines+reloads/2 && dbConnections(t, db) <= 2
	})
}

// reload rewrites s's Corefile with edit applied and sends SIGUSR1; it
// returns how many reloads had completed before.
func (s *server) reload(t *testing.T, edit func(string) string) int {
	t.Helper()
	path := s.cmd.Args[len(s.cmd.Args)-1]
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(edit(string(b))), 0o600); err != nil {
		t.Fatal(err)
	}
	done := strings.Count(s.out.String(), "Reloading complete")
	if err := s.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	return done
}

// TestReloadWhileDatabaseDown: a reload while the database is away keeps
// every answer (the new configuration takes over the loaded data), stays
// ready, keeps the metric series, raises the serial for the new NS RRset,
// and the replica catches up afterwards.
func TestReloadWhileDatabaseDown(t *testing.T) {
	db, s, p := startBehindProxy(t, [][4]any{{"www.example.org", "A", "192.0.2.1", nil}})
	serial := soaSerial(t, s, "example.org.")
	p.down()
	done := s.reload(t, func(c string) string {
		c = strings.Replace(c, "ns ns1.example.org ns2.example.org", "ns ns3.example.org", 1)
		return strings.Replace(c, "\tprometheus", "\tlog\n\tprometheus", 1)
	})
	for strings.Count(s.out.String(), "Reloading complete") == done {
		servedA(t, s, "192.0.2.1", 1)
		if strings.Contains(s.out.String(), "[ERROR] Restart failed") {
			t.Fatalf("Expected the reload to succeed, got:\n%s", s.out.String())
		}
	}
	keepsServing(t, s, "192.0.2.1", time.Second)
	if resp := query(t, s.dns, "udp", "example.org.", dns.TypeSOA); len(resp.Answer) != 1 || resp.Answer[0].(*dns.SOA).Ns != "ns3.example.org." {
		t.Errorf("Expected the reloaded ns in the SOA MNAME, got %v", resp.Answer)
	}
	// The NS RRset and the SOA changed: secondaries see a new serial.
	waitFor(t, 5*time.Second, "a new serial for the new ns", func() bool { return soaSerial(t, s, "example.org.") == serial+1 })
	if n := s.counter(t, "coredns_dbrecords_records"); n != 1 {
		t.Errorf("Expected the records series to survive the reload with 1, got %v", n)
	}
	if n := s.counter(t, "coredns_dbrecords_full_reads_total"); n != 1 {
		t.Errorf("Expected the reload to read nothing again (1 full read, at start-up), got %v", n)
	}
	exec1(t, db, "UPDATE dns_records SET content = '192.0.2.2'")
	p.up(t)
	waitFor(t, 10*time.Second, "the change after the database returned", func() bool { return answerA(t, s, "www.example.org.") == "192.0.2.2" })
}

// TestFailedReloadLeaksNothing: a reload whose Corefile changes the ttl but
// fails after dbrecords started (a server block's port is taken) leaves the running
// configuration in force, with its ttl, and no goroutine, connection or
// metric series behind.
func TestFailedReloadLeaksNothing(t *testing.T) {
	db, dsn := newDB(t)
	db.SetMaxIdleConns(0)
	insertRows(t, db, [][4]any{{"www.example.org", "A", "192.0.2.1", nil}})
	s := start(t, dsn)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	baseGoroutines := float64(steady(t, func() int64 { return int64(s.gauge(t, "go_goroutines")) }))
	for i := range 5 {
		failed := strings.Count(s.out.String(), "Restart failed")
		var orig string
		s.reload(t, func(c string) string {
			orig = c
			return strings.Replace(c, "refresh 1s", "refresh 1s\n\t\tttl 999", 1) + "example.com:" + strings.Split(busy.Addr().String(), ":")[1] + " {\n\twhoami\n}\n"
		})
		waitFor(t, 15*time.Second, fmt.Sprintf("reload %d to fail", i+1), func() bool {
			return strings.Count(s.out.String(), "Restart failed") > failed
		})
		if err := os.WriteFile(s.cmd.Args[len(s.cmd.Args)-1], []byte(orig), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if resp := query(t, s.dns, "udp", "www.example.org.", dns.TypeA); len(resp.Answer) != 1 || resp.Answer[0].Header().Ttl != 60 {
		t.Errorf("Expected the running configuration's TTL 60, got %v", resp.Answer)
	}
	exec1(t, db, "UPDATE dns_records SET content = '192.0.2.2'")
	waitFor(t, 5*time.Second, "changes to keep arriving", func() bool { return answerA(t, s, "www.example.org.") == "192.0.2.2" })
	waitFor(t, 10*time.Second, fmt.Sprintf("about %.0f goroutines and at most 2 database connections", baseGoroutines), func() bool {
		return s.gauge(t, "go_goroutines") <= baseGoroutines+2 && dbConnections(t, db) <= 2
	})
	if n := s.counter(t, "coredns_dbrecords_records"); n != 1 {
		t.Errorf("Expected the records series to stay, got %v", n)
	}
}

// TestSIGUSR1ChangesTTL: caddy purges every event hook before a SIGUSR1
// reload; a ttl changed by the second of two such reloads still reaches the
// loader (the handed-over settings wait for the instance-startup event).
func TestSIGUSR1ChangesTTL(t *testing.T) {
	db, dsn := newDB(t)
	insertRows(t, db, [][4]any{{"www.example.org", "A", "192.0.2.1", nil}})
	s := start(t, dsn)
	for _, edit := range []func(string) string{
		func(c string) string { return strings.Replace(c, "\tprometheus", "\tlog\n\tprometheus", 1) },
		func(c string) string { return strings.Replace(c, "refresh 1s", "refresh 1s\n\t\tttl 77", 1) },
	} {
		done := s.reload(t, edit)
		waitFor(t, 15*time.Second, "the reload", func() bool { return strings.Count(s.out.String(), "Reloading complete") > done })
	}
	waitFor(t, 20*time.Second, "the new ttl to be served", func() bool {
		resp := query(t, s.dns, "udp", "www.example.org.", dns.TypeA)
		return len(resp.Answer) == 1 && resp.Answer[0].Header().Ttl == 77
	})
}
