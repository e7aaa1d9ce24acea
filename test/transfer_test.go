package test

import (
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// tsigName and tsigSecret are the TSIG key of the tests (hmac-sha256).
const (
	tsigName   = "xfr-key."
	tsigSecret = "c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seS0xMjM0NTY="
)

// transferBlock is serverBlock with the transfer plugin: example.org goes to
// every client and to the NOTIFY targets in notify, example.net to nobody here.
func transferBlock(dsn string, notify []string, extra ...string) string {
	to := "*"
	if len(notify) > 0 {
		to = "* " + strings.Join(notify, " ")
	}
	return strings.Replace(serverBlock(dsn, extra...), "\tdbrecords {", `	transfer example.org {
		to `+to+`
	}
	transfer example.net {
		to 192.0.2.53
	}
	dbrecords {`, 1)
}

// xfr transfers zone from addr over TCP: AXFR when serial is 0, else IXFR
// from serial. With a key name, the request is signed with tsigSecret.
func xfr(t *testing.T, addr, zone string, serial uint32, key string) ([]dns.RR, error) {
	t.Helper()
	m := new(dns.Msg)
	if serial == 0 {
		m.SetAxfr(zone)
	} else {
		m.SetIxfr(zone, serial, "ns1.example.org.", "hostmaster."+zone)
	}
	tr := &dns.Transfer{DialTimeout: 2 * time.Second, ReadTimeout: 10 * time.Second}
	if key != "" {
		m.SetTsig(key, dns.HmacSHA256, 300, time.Now().Unix())
		tr.TsigSecret = map[string]string{key: tsigSecret}
	}
	env, err := tr.In(m, addr)
	if err != nil {
		return nil, err
	}
	var rrs []dns.RR
	for e := range env {
		if e.Error != nil {
			return rrs, e.Error
		}
		rrs = append(rrs, e.RR...)
	}
	return rrs, nil
}

func texts(rrs []dns.RR) []string {
	out := make([]string, len(rrs))
	for i, rr := range rrs {
		out[i] = strings.Join(strings.Fields(rr.String()), " ")
	}
	return out
}

// TestZoneTransfers: AXFR gives the SOA, NS, every RRset of the zone and the
// SOA again; IXFR after one change gives exactly that change; IXFR at our
// serial gives one SOA; UDP and clients not in the transfer plugin's "to"
// list are refused.
func TestZoneTransfers(t *testing.T) {
	db, dsn := newDB(t)
	insertRows(t, db, [][4]any{
		{"www.example.org", "A", "192.0.2.1", nil},
		{"www.example.org", "AAAA", "2001:db8::1", nil},
		{"*.apps.example.org", "A", "192.0.2.7", 30},
		{"deep.ent.example.org", "A", "192.0.2.4", nil},
		{"a.example.net", "A", "198.51.100.1", nil},
	})
	s := startCorefile(t, transferBlock(dsn, nil))
	s.waitReady(t)

	rrs, err := xfr(t, s.dns, "example.org.", 0, "")
	if err != nil {
		t.Fatalf("Expected an AXFR, got %v", err)
	}
	got := texts(rrs)
	if len(got) < 2 || !strings.Contains(got[0], " SOA ") || got[0] != got[len(got)-1] {
		t.Fatalf("Expected an AXFR framed by the SOA, got %v", got)
	}
	body := got[1 : len(got)-1]
	sort.Strings(body)
	want := []string{
		"*.apps.example.org. 30 IN A 192.0.2.7",
		"deep.ent.example.org. 60 IN A 192.0.2.4",
		"example.org. 60 IN NS ns1.example.org.",
		"example.org. 60 IN NS ns2.example.org.",
		"www.example.org. 60 IN A 192.0.2.1",
		"www.example.org. 60 IN AAAA 2001:db8::1",
	}
	if strings.Join(body, "\n") != strings.Join(want, "\n") {
		t.Errorf("Expected the AXFR to hold\n%s\ngot\n%s", strings.Join(want, "\n"), strings.Join(body, "\n"))
	}

	// The journal starts with the first change after start-up: what was
	// served at the start-up serial may differ between replicas.
	startup := serial(t, s)
	exec1(t, db, "INSERT INTO dns_records (name, type, content) VALUES ('other.example.org', 'A', '192.0.2.99')")
	waitFor(t, 3*time.Second, "the insert to be served", func() bool { return serial(t, s) != startup })
	before := serial(t, s)
	exec1(t, db, "UPDATE dns_records SET content = '192.0.2.2' WHERE name = 'www.example.org' AND type = 'A'")
	waitFor(t, 3*time.Second, "the update to be served", func() bool { return answerA(t, s, "www.example.org.") == "192.0.2.2" })
	now := serial(t, s)
	rrs, err = xfr(t, s.dns, "example.org.", before, "")
	if err != nil {
		t.Fatalf("Expected an IXFR, got %v", err)
	}
	got = texts(rrs)
	soa := func(n uint32) string {
		return fmt.Sprintf("example.org. 60 IN SOA ns1.example.org. hostmaster.example.org. %d 7200 1800 1209600 30", n)
	}
	want = []string{soa(now), soa(before), "www.example.org. 60 IN A 192.0.2.1", soa(now), "www.example.org. 60 IN A 192.0.2.2", soa(now)}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Expected the IXFR from %d to be\n%s\ngot\n%s", before, strings.Join(want, "\n"), strings.Join(got, "\n"))
	}

	rrs, err = xfr(t, s.dns, "example.org.", now, "")
	if err != nil || len(rrs) != 1 || rrs[0].(*dns.SOA).Serial != now {
		t.Errorf("Expected one SOA (serial %d) for a client at our serial, got %v, %v", now, texts(rrs), err)
	}
	rrs, err = xfr(t, s.dns, "example.org.", startup, "")
	if err != nil || len(rrs) < 8 || rrs[1].Header().Rrtype == dns.TypeSOA {
		t.Errorf("Expected the whole zone for the start-up serial, got %v, %v", texts(rrs), err)
	}

	m := new(dns.Msg)
	m.SetAxfr("example.org.")
	c := dns.Client{Net: "udp", Timeout: 2 * time.Second}
	if r, _, err := c.Exchange(m, s.dns); err != nil || r.Rcode != dns.RcodeRefused {
		t.Errorf("Expected AXFR over UDP to be REFUSED, got %v, %v", r, err)
	}
	m.SetAxfr("example.net.")
	c.Net = "tcp"
	if r, _, err := c.Exchange(m, s.dns); err != nil || r.Rcode != dns.RcodeRefused {
		t.Errorf("Expected AXFR of a zone this client may not transfer to be REFUSED, got %v, %v", r, err)
	}
	if lines := s.metricLines(t, `coredns_dbrecords_transfers_total{kind="ixfr",zone="example.org."} 1`); len(lines) != 1 {
		t.Errorf("Expected one incremental transfer counted, got %v", s.metricLines(t, "coredns_dbrecords_transfers_total"))
	}
}

// TestTransferTSIG: with the tsig plugin requiring a key for transfers, a
// signed AXFR and IXFR succeed and an unsigned one is refused.
func TestTransferTSIG(t *testing.T) {
	db, dsn := newDB(t)
	insertRows(t, db, [][4]any{{"www.example.org", "A", "192.0.2.1", nil}})
	s := startCorefile(t, strings.Replace(transferBlock(dsn, nil), "\ttransfer example.org", "\ttsig {\n\t\tsecret "+tsigName+" "+tsigSecret+"\n\t\trequire AXFR IXFR\n\t}\n\ttransfer example.org", 1))
	s.waitReady(t)
	rrs, err := xfr(t, s.dns, "example.org.", 0, tsigName)
	if err != nil || len(rrs) != 5 {
		t.Fatalf("Expected a signed AXFR of 5 RRs, got %v, %v", texts(rrs), err)
	}
	if rrs, err = xfr(t, s.dns, "example.org.", rrs[0].(*dns.SOA).Serial-1, tsigName); err != nil || len(rrs) < 2 {
		t.Errorf("Expected a signed IXFR, got %v, %v", texts(rrs), err)
	}
	if rrs, err := xfr(t, s.dns, "example.org.", 0, ""); err == nil && len(rrs) > 0 {
		t.Errorf("Expected an unsigned AXFR to be refused, got %v", texts(rrs))
	}
}

// notifyCatcher is a UDP server that records the NOTIFYs it gets and
// acknowledges them, unless silent (a secondary that never answers).
type notifyCatcher struct {
	addr string
	mu   sync.Mutex
	got  map[string][]time.Time
}

func newNotifyCatcher(t *testing.T, silent bool) *notifyCatcher {
	t.Helper()
	n := &notifyCatcher{got: map[string][]time.Time{}}
	pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	if err != nil {
		t.Fatal(err)
	}
	n.addr = pc.LocalAddr().String()
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		if r.Opcode != dns.OpcodeNotify || len(r.Question) != 1 {
			return
		}
		n.mu.Lock()
		n.got[r.Question[0].Name] = append(n.got[r.Question[0].Name], time.Now())
		n.mu.Unlock()
		if !silent {
			m := new(dns.Msg)
			m.SetReply(r)
			w.WriteMsg(m)
		}
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return n
}

// notifyQuiet is how long no NOTIFY must arrive for a zone to count as
// quiet: the plugin gathers syncs for 100 ms (notifyDelay) and polls every
// refresh (1 s in serverBlock), so a change still on its way is sent within
// this time.
const notifyQuiet = 1200 * time.Millisecond

// quiet waits until no NOTIFY for zone has arrived for notifyQuiet (at most
// 10 s), so that what follows counts only the NOTIFYs it causes.
func (n *notifyCatcher) quiet(t *testing.T, zone string) {
	t.Helper()
	waitFor(t, 10*time.Second, "no NOTIFY for "+zone+" for "+notifyQuiet.String(), func() bool {
		n.mu.Lock()
		defer n.mu.Unlock()
		got := n.got[zone]
		return len(got) == 0 || time.Since(got[len(got)-1]) >= notifyQuiet
	})
}

func (n *notifyCatcher) count(zone string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.got[zone])
}

// TestNotify: a commit sends one NOTIFY within a second, a burst of commits
// a few, and a secondary that never answers delays neither the change being
// served nor the NOTIFY of the other zone.
func TestNotify(t *testing.T) {
	db, dsn := newDB(t)
	ok, silent := newNotifyCatcher(t, false), newNotifyCatcher(t, true)
	block := transferBlock(dsn, []string{ok.addr})
	block = strings.Replace(block, "to 192.0.2.53", "to "+silent.addr+" "+ok.addr, 1) // example.net: the silent one first
	s := startCorefile(t, block)
	s.waitReady(t)
	waitFor(t, 2*time.Second, "the start-up NOTIFY of example.org", func() bool { return ok.count("example.org.") >= 1 })
	start := ok.count("example.org.")

	exec1(t, db, "INSERT INTO dns_records (name, type, content) VALUES ('n1.example.org', 'A', '192.0.2.1')")
	committed := time.Now()
	waitFor(t, 3*time.Second, "a NOTIFY for the commit", func() bool { return ok.count("example.org.") > start })
	t.Logf("NOTIFY %s after the commit", time.Since(committed).Round(time.Millisecond))

	// A burst: 20 commits in a tight loop give far fewer NOTIFYs.
	ok.quiet(t, "example.org.")
	start = ok.count("example.org.")
	for i := range 20 {
		exec1(t, db, "INSERT INTO dns_records (name, type, content) VALUES (?, 'A', '192.0.2.2')", fmt.Sprintf("b%d.example.org", i))
	}
	waitFor(t, 3*time.Second, "the burst served", func() bool { return answerA(t, s, "b19.example.org.") == "192.0.2.2" })
	waitFor(t, 3*time.Second, "a NOTIFY for the burst", func() bool { return ok.count("example.org.") > start })
	ok.quiet(t, "example.org.")
	if n := ok.count("example.org.") - start; n < 1 || n > 4 {
		t.Errorf("Expected 1 to 4 NOTIFYs for a burst of 20 commits, got %d", n)
	}

	// example.net's first secondary never answers: each round costs the
	// transfer plugin about 6 s. Changes are served meanwhile, example.org
	// is notified, and example.net's second secondary hears within a round.
	netStart := ok.count("example.net.")
	for i := range 3 {
		exec1(t, db, "INSERT INTO dns_records (name, type, content) VALUES (?, 'A', '198.51.100.9')", fmt.Sprintf("s%d.example.net", i))
		d := waitFor(t, 3*time.Second, "the change served while a secondary is silent", func() bool {
			return answerA(t, s, fmt.Sprintf("s%d.example.net.", i)) == "198.51.100.9"
		})
		t.Logf("served %s after the commit while a secondary is silent", d.Round(time.Millisecond))
		orgStart := ok.count("example.org.")
		exec1(t, db, "INSERT INTO dns_records (name, type, content) VALUES (?, 'A', '192.0.2.3')", fmt.Sprintf("o%d.example.org", i))
		waitFor(t, 3*time.Second, "example.org's NOTIFY while example.net's secondary is silent", func() bool {
			return ok.count("example.org.") > orgStart
		})
	}
	waitFor(t, 15*time.Second, "example.net's reachable secondary notified", func() bool { return ok.count("example.net.") > netStart })
	if silent.count("example.net.") == 0 {
		t.Error("Expected the silent secondary to be sent NOTIFYs, got none")
	}
	if lines := s.metricLines(t, `coredns_dbrecords_notify_errors_total{zone="example.net."}`); len(lines) != 1 {
		t.Errorf("Expected failed NOTIFY rounds of example.net counted, got %v", lines)
	}
}
