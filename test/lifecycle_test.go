package test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestDatabaseDownAtStart: the process starts, is not ready and answers
// SERVFAIL; once the database is reachable it loads and becomes ready without
// a restart.
func TestDatabaseDownAtStart(t *testing.T) {
	db, dsn := newDB(t)
	insertRows(t, db, [][4]any{{"www.example.org", "A", "192.0.2.1", nil}})
	p := newProxy(t)

	s := startCorefile(t, serverBlock(p.dsn(t, dsn)))
	// The DNS port opens after the plugin's bounded wait for the first load.
	var resp *dns.Msg
	waitFor(t, 15*time.Second, "coredns to answer while the database is down", func() bool {
		m := new(dns.Msg)
		m.SetQuestion("www.example.org.", dns.TypeA)
		var err error
		resp, err = dns.Exchange(m, s.dns)
		return err == nil
	})
	if resp.Rcode != dns.RcodeServerFailure {
		t.Fatalf("Expected SERVFAIL before the first load, got %s", dns.RcodeToString[resp.Rcode])
	}
	if got := s.readyStatus(); got == 0 || got == http.StatusOK {
		t.Fatalf("Expected /ready to answer but not with 200 while the database is down, got %d", got)
	}

	p.up(t)
	s.waitReady(t)
	resp = query(t, s.dns, "udp", "www.example.org.", dns.TypeA)
	if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1 {
		t.Errorf("Expected the row once the database is back, got %s %v", dns.RcodeToString[resp.Rcode], resp.Answer)
	}
}

// TestDatabaseLostAfterLoad: the last good data keeps being served, the
// replica stays ready, the error is counted, and it catches up on return.
func TestDatabaseLostAfterLoad(t *testing.T) {
	db, s, p := startBehindProxy(t, [][4]any{{"www.example.org", "A", "192.0.2.1", nil}})

	p.down()
	exec1(t, db, "UPDATE dns_records SET content = '192.0.2.2'")
	keepsServing(t, s, "192.0.2.1", 2500*time.Millisecond) // more than two refresh periods without a database
	if lines := s.metricLines(t, "coredns_dbrecords_sync_errors_total{"); len(lines) != 1 || strings.HasSuffix(lines[0], " 0") {
		t.Errorf("Expected sync errors to be counted, got %v", lines)
	}

	p.up(t)
	waitFor(t, 15*time.Second, "the update after the database returns", func() bool {
		resp := query(t, s.dns, "udp", "www.example.org.", dns.TypeA)
		return len(resp.Answer) == 1 && resp.Answer[0].(*dns.A).A.String() == "192.0.2.2"
	})
}

// TestPasswordNeverLogged starts with a wrong password and checks the output.
func TestPasswordNeverLogged(t *testing.T) {
	_, dsn := newDB(t)
	bad := strings.Replace(dsn, "@tcp(", ":Sup3r-s3cret-pw@tcp(", 1)
	if !strings.Contains(bad, "Sup3r-s3cret-pw") {
		t.Fatalf("Expected a DSN with a password, got %q", bad)
	}
	s := startCorefile(t, serverBlock(bad)+"\n.:{DNS} {\n\tdebug\n\tlog\n}\n")
	waitFor(t, 20*time.Second, "the access error and three retries", func() bool {
		return strings.Contains(s.out.String(), "Access denied") && s.counter(t, "coredns_dbrecords_sync_errors_total") >= 3
	})
	s.stop()
	out := s.out.String()
	if !strings.Contains(out, "Access denied") {
		t.Errorf("Expected the access error in the log, got:\n%s", out)
	}
	if strings.Contains(out, "Sup3r-s3cret-pw") {
		t.Errorf("Expected the password to be absent from the output, got:\n%s", out)
	}
}

// TestBadCorefile: start-up fails with a message naming the line and property.
func TestBadCorefile(t *testing.T) {
	tests := []struct {
		name, block, want string
	}{
		{name: "unknown property", block: "dbrecords {\n\t\tdsn u:p@tcp(127.0.0.1:1)/d\n\t\trefrsh 1s\n\t}", want: "Corefile:4 - Error during parsing: unknown property 'refrsh'"},
		{name: "bad ttl", block: "dbrecords {\n\t\tdsn u:p@tcp(127.0.0.1:1)/d\n\t\tttl forever\n\t}", want: `Corefile:4 - Error during parsing: property 'ttl': invalid TTL "forever"`},
		{name: "missing dsn_file", block: "dbrecords {\n\t\tdsn_file /nonexistent/dsn\n\t}", want: "Corefile:3 - Error during parsing: property 'dsn_file': cannot read"},
		{name: "no dsn", block: "dbrecords", want: "property 'dsn' or 'dsn_file' is required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "Corefile")
			if err := os.WriteFile(path, []byte("example.org:0 {\n\t"+tc.block+"\n}\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(binary, "-conf", path).CombinedOutput()
			if err == nil {
				t.Fatalf("Expected start-up to fail, got success:\n%s", out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("Expected output containing %q, got:\n%s", tc.want, out)
			}
		})
	}
}

// TestBinary checks what `make build` produced: the pinned CoreDNS with dbrecords.
func TestBinary(t *testing.T) {
	out, err := exec.Command(binary, "-plugins").Output()
	if err != nil {
		t.Fatal(err)
	}
	plugins := strings.Fields(string(out))
	for _, want := range []string{"dbrecords", "cache", "file", "whoami", "prometheus", "ready", "reload", "health", "transfer", "dnssec", "any", "loadbalance"} {
		if !contains(plugins, want) {
			t.Errorf("Expected -plugins to list %q, got %v", want, plugins)
		}
	}
	out, err = exec.Command(binary, "-version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(out), "CoreDNS-1.") {
		t.Errorf("Expected -version to print the CoreDNS version, got %q", out)
	}
}

func contains(list []string, s string) bool {
	return slices.Contains(list, s)
}

// steady waits until value reads the same twice, 200 ms apart, and returns it.
func steady(t *testing.T, value func() int64) int64 {
	t.Helper()
	last := value()
	waitFor(t, 10*time.Second, "a steady value", func() bool {
		time.Sleep(200 * time.Millisecond)
		v := value()
		defer func() { last = v }()
		return v == last
	})
	return last
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < limit {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("Expected %s within %s, got nothing", what, limit)
	return 0
}

// TestFloodNeverReachesDatabase sends thousands of queries for names that do
// not exist, and names that do, and checks that not one byte went from coredns
// to the database meanwhile (polling is set to once an hour).
func TestFloodNeverReachesDatabase(t *testing.T) {
	_, s, p := startBehindProxy(t, [][4]any{{"www.example.org", "A", "192.0.2.1", nil}, {"*.wild.example.org", "A", "192.0.2.2", nil}}, "refresh 1h")
	before := steady(t, p.sent.Load)
	if before == 0 {
		t.Fatal("Expected the first load to go through the proxy, got no traffic")
	}

	c := dns.Client{Timeout: 2 * time.Second}
	conn, err := c.Dial(s.dns)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i := range 5000 {
		names := []string{fmt.Sprintf("rnd-%d-%d.example.org.", i, time.Now().UnixNano()), fmt.Sprintf("x%d.wild.example.org.", i), "www.example.org."}
		m := new(dns.Msg)
		m.SetQuestion(names[i%len(names)], dns.TypeA)
		resp, _, err := c.ExchangeWithConn(m, conn)
		if err != nil {
			t.Fatalf("Expected an answer to query %d, got %v", i, err)
		}
		if want := []int{dns.RcodeNameError, dns.RcodeSuccess, dns.RcodeSuccess}[i%3]; resp.Rcode != want {
			t.Fatalf("Expected %s for %s, got %s", dns.RcodeToString[want], names[i%3], dns.RcodeToString[resp.Rcode])
		}
	}
	if sent := p.sent.Load() - before; sent != 0 {
		t.Errorf("Expected no traffic to the database during the flood, got %d bytes", sent)
	}
}

// TestDrainOnSIGTERM: with the health plugin's lameduck, a replica that gets
// SIGTERM answers every query correctly for the lameduck period, while
// /ready fails, then exits: a rolling update loses no query.
func TestDrainOnSIGTERM(t *testing.T) {
	db, dsn := newDB(t)
	insertRows(t, db, [][4]any{{"www.example.org", "A", "192.0.2.1", nil}})
	health := freePort(t)
	s := startCorefile(t, strings.Replace(serverBlock(dsn), "\tready {READY}", fmt.Sprintf("\tready {READY}\n\thealth 127.0.0.1:%d {\n\t\tlameduck 2s\n\t}", health), 1))
	s.waitReady(t)
	sent := time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	answered, readyFailed := 0, false
	c := dns.Client{Timeout: 500 * time.Millisecond}
	for {
		m := new(dns.Msg)
		m.SetQuestion("www.example.org.", dns.TypeA)
		resp, _, err := c.Exchange(m, s.dns)
		if err != nil {
			break // the server has stopped listening
		}
		if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1 || resp.Answer[0].(*dns.A).A.String() != "192.0.2.1" {
			t.Fatalf("Expected 192.0.2.1 while draining, got %v", resp)
		}
		answered++
		readyFailed = readyFailed || s.readyStatus() != http.StatusOK
	}
	drained := time.Since(sent)
	t.Logf("Answered %d queries in %.1f s after SIGTERM", answered, drained.Seconds())
	if drained < 2*time.Second {
		t.Errorf("Expected answers for the 2-s lameduck period, got them for %.1f s", drained.Seconds())
	}
	if !readyFailed {
		t.Errorf("Expected /ready to fail during lameduck, got 200 throughout")
	}
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		t.Errorf("Expected coredns to exit after lameduck, still running")
	}
}
