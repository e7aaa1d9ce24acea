package test

import (
	"database/sql"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// signedUpdate sends an UPDATE of zone adding rrs, signed with key at the
// time when, over TCP, and returns the reply (nil when none came).
func signedUpdate(t *testing.T, addr, key, secret string, when time.Time, zone string, rrs ...dns.RR) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetUpdate(zone)
	m.Insert(rrs)
	m.SetTsig(key, dns.HmacSHA256, 300, when.Unix())
	c := &dns.Client{Net: "tcp", TsigSecret: map[string]string{key: secret}, Timeout: 5 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if r == nil {
		t.Fatalf("Expected a reply to the update, got %v", err)
	}
	return r
}

func mustRR(t *testing.T, s string) dns.RR {
	t.Helper()
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return rr
}

// TestUpdateBadInput: a replayed update (its TSIG time outside the fudge),
// a malformed message and a flood beyond the key's rate are refused, and
// none of them writes a row.
func TestUpdateBadInput(t *testing.T) {
	db, dsn := newDB(t)
	s := startUpdates(t, dsn, dsn, "rate 2")
	rr := mustRR(t, "replay.example.org. 60 IN A 192.0.2.7")

	r := signedUpdate(t, s.dns, adminKey, adminSecret, time.Now().Add(-time.Hour), "example.org.", rr)
	if tsig := r.IsTsig(); r.Rcode != dns.RcodeNotAuth || tsig == nil || tsig.Error != dns.RcodeBadTime {
		t.Errorf("Expected an update signed an hour ago to get NOTAUTH with BADTIME, got %v", r)
	}

	// An update with nothing in it (RFC 2136 allows it) succeeds and writes nothing.
	empty := new(dns.Msg)
	empty.SetUpdate("example.org.")
	empty.SetTsig(adminKey, dns.HmacSHA256, 300, time.Now().Unix())
	ec := &dns.Client{Net: "tcp", TsigSecret: map[string]string{adminKey: adminSecret}, Timeout: 5 * time.Second}
	if r, _, err := ec.Exchange(empty, s.dns); err != nil || r.Rcode != dns.RcodeSuccess {
		t.Errorf("Expected an empty update to get NOERROR, got %v, %v", r, err)
	}

	// An A record whose RDATA is 3 bytes long: the message does not parse.
	m := new(dns.Msg)
	m.SetUpdate("example.org.")
	m.Insert([]dns.RR{rr})
	wire, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	bad := append(slices.Clone(wire[:len(wire)-6]), 0, 3, 192, 0, 2)
	c, err := net.Dial("udp", s.dns)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	c.Write(bad)
	buf := make([]byte, 512)
	if n, err := c.Read(buf); err == nil {
		reply := new(dns.Msg)
		if reply.Unpack(buf[:n]) != nil || reply.Rcode != dns.RcodeFormatError {
			t.Errorf("Expected a malformed update to be dropped or get FORMERR, got %v", reply)
		}
	}

	// More updates at once than the rate (2 per second) allows.
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		rcodes  []int
		flooded = 8
	)
	for i := range flooded {
		wg.Go(func() {
			r := signedUpdate(t, s.dns, adminKey, adminSecret, time.Now(), "example.org.", mustRR(t, fmt.Sprintf("flood%d.example.org. 60 IN A 192.0.2.%d", i, i+1)))
			mu.Lock()
			rcodes = append(rcodes, r.Rcode)
			mu.Unlock()
		})
	}
	wg.Wait()
	ok, refused := 0, 0
	for _, rc := range rcodes {
		switch rc {
		case dns.RcodeSuccess:
			ok++
		case dns.RcodeRefused:
			refused++
		}
	}
	if ok == 0 || refused == 0 || ok+refused != flooded {
		t.Errorf("Expected some of %d updates at once to pass and the rest to be REFUSED by the rate, got rcodes %v", flooded, rcodes)
	}
	if got := s.metricLines(t, `coredns_dbrecords_updates_total{key="admin-key.",result="ratelimited",zone="example.org."} `+fmt.Sprint(refused)); len(got) != 1 {
		t.Errorf("Expected %d rate-limited updates counted, got %q", refused, s.metricLines(t, "coredns_dbrecords_updates_total"))
	}
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM dns_records").Scan(&n); err != nil || n != ok {
		t.Errorf("Expected %d rows, one per update that passed, got %d, %v", ok, n, err)
	}
}

// TestUpdateDatabaseDown: with the writer's database unreachable an update
// gets SERVFAIL and writes nothing; once it is back, the same update works.
func TestUpdateDatabaseDown(t *testing.T) {
	db, dsn := newDB(t)
	insertRows(t, db, [][4]any{{"app.example.org", "A", "192.0.2.1", nil}})
	p := newProxy(t)
	p.up(t)
	s := startUpdates(t, dsn, p.dsn(t, dsn))
	script := "zone example.org\nupdate delete app.example.org A\nupdate add app.example.org 60 A 192.0.2.2\nupdate add app.example.org 60 TXT moved"
	before := tableRows(t, db)

	p.down()
	if rcode, out := nsupdate(t, s, adminKey, adminSecret, script); rcode != "SERVFAIL" {
		t.Errorf("Expected SERVFAIL with the writer's database down, got %s:\n%s", rcode, out)
	}
	if got := tableRows(t, db); !slices.Equal(got, before) {
		t.Errorf("Expected nothing written, the table went from %q to %q", before, got)
	}
	if got := answers(t, s, "app.example.org.", dns.TypeA); !slices.Equal(got, []string{"192.0.2.1"}) {
		t.Errorf("Expected the replica to keep serving 192.0.2.1, got %q", got)
	}
	if !strings.Contains(s.out.String(), `Update of example.org. by key "admin-key." from 127.0.0.1 failed, nothing was written`) {
		t.Errorf("Expected the failure logged, got:\n%s", s.out.String())
	}

	p.up(t)
	if rcode, out := nsupdate(t, s, adminKey, adminSecret, script); rcode != "NOERROR" {
		t.Fatalf("Expected the update to work with the database back, got %s:\n%s", rcode, out)
	}
	if got := answers(t, s, "app.example.org.", dns.TypeA); !slices.Equal(got, []string{"192.0.2.2"}) {
		t.Errorf("Expected 192.0.2.2 served, got %q", got)
	}
}

// TestUpdateCompetingReplicas: two replicas take, at the same moment,
// updates that both require a name not to be in use; in every round
// exactly one wins, the table holds its row alone, and the other replica
// serves it within the usual 2 s.
func TestUpdateCompetingReplicas(t *testing.T) {
	db, dsn := newDB(t)
	competeUpdates(t, db, startUpdates(t, dsn, dsn), startUpdates(t, dsn, dsn), 15)
}

// competeUpdates runs rounds of competing updates through a and b, whose
// table db reads.
func competeUpdates(t *testing.T, db *sql.DB, a, b *server, rounds int) {
	t.Helper()
	for i := range rounds {
		name := fmt.Sprintf("race%d.example.org", i)
		var (
			wg     sync.WaitGroup
			rcodes [2]string
		)
		for j, s := range []*server{a, b} {
			wg.Go(func() {
				rcodes[j], _ = nsupdate(t, s, adminKey, adminSecret, fmt.Sprintf("zone example.org\nprereq nxdomain %s\nupdate add %s 60 A 192.0.2.%d", name, name, j+1))
			})
		}
		wg.Wait()
		got := slices.Sorted(slices.Values(rcodes[:]))
		if !slices.Equal(got, []string{"NOERROR", "YXDOMAIN"}) {
			t.Fatalf("Round %d: expected one NOERROR and one YXDOMAIN, got %v", i, rcodes)
		}
		winner := 1
		if rcodes[1] == "NOERROR" {
			winner = 2
		}
		rows := column(t, db, "SELECT content FROM dns_records WHERE name = ?", name)
		want := []string{fmt.Sprintf("192.0.2.%d", winner)}
		if !slices.Equal(rows, want) {
			t.Fatalf("Round %d: expected the table to hold the winner's row %q alone, got %q", i, want, rows)
		}
		for _, s := range []*server{a, b} {
			waitFor(t, 2*time.Second, name+" served by both replicas", func() bool {
				return slices.Equal(answers(t, s, name+".", dns.TypeA), want)
			})
		}
	}
}
