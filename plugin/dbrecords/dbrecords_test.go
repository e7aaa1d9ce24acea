package dbrecords

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/pkg/fall"
	"github.com/coredns/coredns/plugin/test"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/records"
	"github.com/dbrecords/dbrecords/plugin/dbrecords/store"
	"github.com/dbrecords/dbrecords/test/fixture"
	"github.com/miekg/dns"
)

// fixtureRows is the shared fixture's table.
func fixtureRows() []records.Row {
	rows := make([]records.Row, len(fixture.Rows))
	for i, r := range fixture.Rows {
		rows[i] = records.Row{Name: r.Name, Type: r.Type, Content: r.Content, TTLNull: r.TTL == nil}
		if ttl, ok := r.TTL.(int); ok {
			rows[i].TTL = int64(ttl)
		}
	}
	return rows
}

func newTestPlugin(rows []records.Row) *DBRecords {
	cfg := &config{zones: fixture.Zones, ttl: 60, negativeTTL: 30, ns: fixture.NS}
	d := New(cfg)
	d.serve(buildSnapshot(d.zones, rows, 7))
	d.Next = test.ErrorHandler()
	return d
}

// serve makes d answer from s, as a loader would.
func (d *DBRecords) serve(s *store.Snapshot) {
	if s.Signers == nil && d.signers != nil {
		s.Signers = d.signers // as the loader's commit sets it
	}
	p := new(atomic.Pointer[store.Snapshot])
	p.Store(s)
	d.data.Store(p)
}

// buildSnapshot loads rows into a snapshot of zones whose serials are serial.
func buildSnapshot(zones records.ZoneSet, rows []records.Row, serial uint32) *store.Snapshot {
	vs := make([]store.Version, len(zones.List))
	for i, z := range zones.List {
		vs[i] = store.Version{Zone: z, Serial: serial}
	}
	b := store.NewFullBuilder(0, vs)
	names := map[string]string{}
	for _, r := range rows {
		if sr, reason := records.Parse(r, zones, 60); reason == records.Valid {
			b.Add(sr.FQDN, zones.List[sr.Zone].Name, sr.Rec)
			names[sr.FQDN] = zones.List[sr.Zone].Name
		}
	}
	for name, zone := range names { // as the loader settles each name
		if recs, drops := records.Settle(b.Get(name)); len(drops) > 0 {
			b.Set(name, zone, recs)
		}
	}
	return b.Finish()
}

func TestLookup(t *testing.T) {
	d := newTestPlugin(fixtureRows())
	for i, tc := range append(slices.Clone(fixture.Cases), fixture.Referrals...) {
		tc, aa := fixture.Sorted(tc), i < len(fixture.Cases)
		t.Run(dns.TypeToString[tc.Qtype]+" "+tc.Qname, func(t *testing.T) {
			m := tc.Msg()
			rec := dnstest.NewRecorder(&test.ResponseWriter{})
			if _, err := d.ServeDNS(context.Background(), rec, m); err != nil {
				t.Fatalf("Expected no error, got %v", err)
			}
			if rec.Msg == nil {
				t.Fatal("Expected a reply, got none")
			}
			if rec.Msg.Authoritative != aa {
				t.Errorf("Expected the AA bit %v, got %v", aa, rec.Msg.Authoritative)
			}
			fixture.ZeroSerials(rec.Msg.Ns)
			if err := test.SortAndCheck(rec.Msg, tc); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestRefused: transfers (the transfer plugin's, before this one) and NXNAME
// get an error code, which the server writes.
func TestRefused(t *testing.T) {
	d := newTestPlugin(fixtureRows())
	for _, tc := range fixture.Refused {
		rec := dnstest.NewRecorder(&test.ResponseWriter{})
		rcode, err := d.ServeDNS(context.Background(), rec, tc.Msg())
		if err != nil || rcode != tc.Rcode || rec.Msg != nil {
			t.Errorf("Expected %s for %s %s and no reply written, got %s, %v, %v", dns.RcodeToString[tc.Rcode], tc.Qname, dns.TypeToString[tc.Qtype], dns.RcodeToString[rcode], err, rec.Msg)
		}
	}
}

func TestOutsideZonesGoesToNext(t *testing.T) {
	d := newTestPlugin(fixtureRows())
	d.Next = test.NextHandler(dns.RcodeRefused, nil)
	rec := dnstest.NewRecorder(&test.ResponseWriter{})
	m := new(dns.Msg)
	m.SetQuestion("www.example.com.", dns.TypeA)
	rcode, _ := d.ServeDNS(context.Background(), rec, m)
	if rcode != dns.RcodeRefused || rec.Msg != nil {
		t.Errorf("Expected the next plugin's REFUSED and no reply written, got rcode %d and %v", rcode, rec.Msg)
	}
}

func TestOtherClassGoesToNext(t *testing.T) {
	d := newTestPlugin(fixtureRows())
	d.Next = test.NextHandler(dns.RcodeBadCookie, nil) // a value only the next plugin returns
	m := new(dns.Msg)
	m.SetQuestion("www.example.org.", dns.TypeTXT)
	m.Question[0].Qclass = dns.ClassCHAOS
	if rcode, _ := d.ServeDNS(context.Background(), dnstest.NewRecorder(&test.ResponseWriter{}), m); rcode != dns.RcodeBadCookie {
		t.Errorf("Expected a CH query to go to the next plugin, got rcode %d", rcode)
	}
}

func TestFallthrough(t *testing.T) {
	d := newTestPlugin(fixtureRows())
	d.Fall = fall.F{}
	d.Fall.SetZonesFromArgs([]string{"example.net."})
	d.Next = test.NextHandler(dns.RcodeBadCookie, nil) // a value only the next plugin returns

	tests := []struct {
		qname     string
		qtype     uint16
		wantFalls bool
	}{
		{qname: "nope.example.net.", qtype: dns.TypeA, wantFalls: true},
		{qname: "a.example.net.", qtype: dns.TypeAAAA, wantFalls: false}, // NODATA stays here
		{qname: "a.example.net.", qtype: dns.TypeA, wantFalls: false},
		{qname: "nope.example.org.", qtype: dns.TypeA, wantFalls: false}, // not a fallthrough zone
	}
	for _, tc := range tests {
		rec := dnstest.NewRecorder(&test.ResponseWriter{})
		m := new(dns.Msg)
		m.SetQuestion(tc.qname, tc.qtype)
		rcode, _ := d.ServeDNS(context.Background(), rec, m)
		if falls := rcode == dns.RcodeBadCookie; falls != tc.wantFalls {
			t.Errorf("Expected fallthrough %v for %s %s, got rcode %d", tc.wantFalls, tc.qname, dns.TypeToString[tc.qtype], rcode)
		}
	}
}

func TestNotLoadedIsServfail(t *testing.T) {
	d := New(&config{zones: []string{"example.org."}, ttl: 60, negativeTTL: 30})
	d.Next = test.NextHandler(dns.RcodeBadCookie, nil)
	m := new(dns.Msg)
	m.SetQuestion("www.example.org.", dns.TypeA)
	rcode, err := d.ServeDNS(context.Background(), dnstest.NewRecorder(&test.ResponseWriter{}), m)
	if rcode != dns.RcodeServerFailure || err != nil {
		t.Errorf("Expected SERVFAIL before the first load, got rcode %d, error %v", rcode, err)
	}
	if d.Ready() {
		t.Error("Expected not ready before the first load, got ready")
	}
}

// TestRootZone: a block that serves the root answers negative queries with an
// SOA that packs (MNAME ns.dns., RNAME hostmaster.).
func TestRootZone(t *testing.T) {
	d := New(&config{zones: []string{"."}, ttl: 60, negativeTTL: 30})
	d.serve(buildSnapshot(d.zones, []records.Row{{Name: "www.example", Type: "A", Content: "192.0.2.1", TTLNull: true}}, 1))
	d.Next = test.ErrorHandler()
	tc := test.Case{Qname: "nope.example.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError,
		Ns: []dns.RR{test.SOA(". 30 IN SOA ns.dns. hostmaster. 1 7200 1800 1209600 30")}}
	rec := dnstest.NewRecorder(&test.ResponseWriter{})
	if _, err := d.ServeDNS(context.Background(), rec, tc.Msg()); err != nil {
		t.Fatal(err)
	}
	if err := test.SortAndCheck(rec.Msg, tc); err != nil {
		t.Error(err)
	}
	if _, err := rec.Msg.Pack(); err != nil {
		t.Errorf("Expected the NXDOMAIN answer to pack, got %v", err)
	}
}

// TestLargeRRsetTruncatesUnbuilt: an RRset too large for the client's UDP
// buffer is answered with TC and nothing else, before anything is built or
// signed; over TCP it is answered whole.
func TestLargeRRsetTruncatesUnbuilt(t *testing.T) {
	rows := fixtureRows()
	for i := range 2000 {
		rows = append(rows, records.Row{Name: "big.example.org", Type: "A", Content: fmt.Sprintf("10.0.%d.%d", i>>8, i&255), TTLNull: true})
	}
	rows = append(rows, records.Row{Name: "to-big.example.org", Type: "CNAME", Content: "big.example.org", TTLNull: true})
	d := newTestPlugin(rows)
	for _, tc := range []struct {
		name    string
		tcp     bool
		bufsize uint16
		qname   string
		want    int // answers; -1: TC
	}{
		{"udp", false, 0, "big.example.org.", -1},
		{"udp 1232", false, 1232, "big.example.org.", -1},
		{"udp 1232 small", false, 1232, "www.example.org.", 2},
		{"udp 65535", false, 65535, "big.example.org.", 2000},
		{"tcp", true, 0, "big.example.org.", 2000},
	} {
		m := new(dns.Msg)
		m.SetQuestion(tc.qname, dns.TypeA)
		if tc.bufsize > 0 {
			m.SetEdns0(tc.bufsize, false)
		}
		rec := dnstest.NewRecorder(&test.ResponseWriter{TCP: tc.tcp})
		if _, err := d.ServeDNS(context.Background(), rec, m); err != nil {
			t.Fatal(err)
		}
		switch {
		case tc.want < 0 && (!rec.Msg.Truncated || len(rec.Msg.Answer) != 0):
			t.Errorf("%s: expected TC and no answer, got TC %v with %d answers", tc.name, rec.Msg.Truncated, len(rec.Msg.Answer))
		case tc.want >= 0 && (rec.Msg.Truncated || len(rec.Msg.Answer) != tc.want):
			t.Errorf("%s: expected %d answers, got TC %v with %d", tc.name, tc.want, rec.Msg.Truncated, len(rec.Msg.Answer))
		}
	}
	// A CNAME to the large RRset: TC at the link that does not fit, before
	// it is built; over TCP the whole chain.
	for _, tcp := range []bool{false, true} {
		m := new(dns.Msg)
		m.SetQuestion("to-big.example.org.", dns.TypeA)
		rec := dnstest.NewRecorder(&test.ResponseWriter{TCP: tcp})
		if _, err := d.ServeDNS(context.Background(), rec, m); err != nil {
			t.Fatal(err)
		}
		if want := map[bool]int{false: 1, true: 2001}[tcp]; rec.Msg.Truncated == tcp || len(rec.Msg.Answer) != want {
			t.Errorf("chain over TCP %v: expected TC %v and %d answers, got TC %v with %d", tcp, !tcp, want, rec.Msg.Truncated, len(rec.Msg.Answer))
		}
	}
}
