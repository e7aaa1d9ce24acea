package dbrecords

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"

	"github.com/dbrecords/dbrecords/test/dbsetup"
	"github.com/miekg/dns"
)

// needMySQL skips t when no server answers at MYSQL_DSN, unless
// DBRECORDS_REQUIRE_DB is set (as `make test` does): then it fails.
func needMySQL(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := dbsetup.Ping(ctx, dbsetup.ServerDSN())
	switch {
	case err == nil:
	case os.Getenv("DBRECORDS_REQUIRE_DB") != "":
		t.Fatalf("Expected a MySQL server at MYSQL_DSN, got %v", err)
	default:
		t.Skipf("Skipping: this test runs the loader against a real MySQL server and none answers at MYSQL_DSN (%v); `make test` starts one", err)
	}
}

func startPlugin(t *testing.T, dsn string) *DBRecords {
	t.Helper()
	c := caddy.NewTestController("dns", "dbrecords {\n dsn "+dsn+"\n refresh 100ms\n}")
	c.ServerBlockKeys = []string{"example.org."}
	cfg, err := parse(c)
	if err != nil {
		t.Fatal(err)
	}
	d := New(cfg)
	d.Next = test.ErrorHandler()
	if err := d.OnStartup(); err != nil {
		t.Fatal(err)
	}
	return d
}

func lookupA(d *DBRecords, name string) (int, int) {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	rec := dnstest.NewRecorder(&test.ResponseWriter{})
	d.ServeDNS(context.Background(), rec, m)
	if rec.Msg == nil {
		return -1, 0
	}
	return rec.Msg.Rcode, len(rec.Msg.Answer)
}

// connections counts the server's connections that use database name.
func connections(t *testing.T, db *sql.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND ID <> CONNECTION_ID()").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestLoaderWithReaders runs the loader against MariaDB while readers query,
// under the race detector, then checks that shutdown leaves nothing behind.
func TestLoaderWithReaders(t *testing.T) {
	needMySQL(t)
	db, dsn := dbsetup.ForTest(t, "dbrecords_unit")
	db.SetMaxIdleConns(1)
	for i := range 50 {
		if _, err := db.Exec("INSERT INTO dns_records (name, type, content) VALUES (?, 'A', '192.0.2.1')", fmt.Sprintf("n%d.example.org", i)); err != nil {
			t.Fatal(err)
		}
	}
	baseGoroutines := runtime.NumGoroutine()
	baseConns := connections(t, db)

	for round := range 3 {
		d := startPlugin(t, dsn)
		if !d.Ready() {
			t.Fatal("Expected ready after OnStartup with a reachable database, got not ready")
		}
		stop := readers(3, func() bool {
			if rcode, _ := lookupA(d, "n1.example.org."); rcode != dns.RcodeSuccess {
				t.Errorf("Expected n1 to stay served, got rcode %d", rcode)
				return false
			}
			return true
		})
		name := fmt.Sprintf("round%d.example.org", round)
		if _, err := db.Exec("INSERT INTO dns_records (name, type, content) VALUES (?, 'A', '192.0.2.2')", name); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			if _, n := lookupA(d, name+"."); n == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("Expected %s to appear, got nothing", name)
			}
			time.Sleep(20 * time.Millisecond)
		}
		stop()
		d.OnShutdown()
	}

	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > baseGoroutines || connections(t, db) > baseConns {
		if time.Now().After(deadline) {
			t.Fatalf("Expected %d goroutines and %d connections after shutdown, got %d and %d",
				baseGoroutines, baseConns, runtime.NumGoroutine(), connections(t, db))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
