package test

import (
	"database/sql"
	"fmt"
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
