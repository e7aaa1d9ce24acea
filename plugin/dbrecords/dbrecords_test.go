package dbrecords

import (
	"context"
	"testing"

	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/pkg/fall"
	"github.com/coredns/coredns/plugin/test"

	"github.com/miekg/dns"
)

// testRows is the table behind the handler tests.
var testRows = []rawRow{
	{name: "www.example.org", typ: "A", content: "192.0.2.1", ttlNull: true},
	{name: "WWW.example.org.", typ: "a", content: "192.0.2.2", ttl: 300},
	{name: "www.example.org", typ: "AAAA", content: "2001:db8::1", ttlNull: true},
	{name: "v4only.example.org", typ: "A", content: "192.0.2.3", ttlNull: true},
	{name: "deep.ent.example.org", typ: "A", content: "192.0.2.4", ttlNull: true},
	{name: "*.wild.example.org", typ: "A", content: "192.0.2.5", ttlNull: true},
	{name: "host.wild.example.org", typ: "AAAA", content: "2001:db8::5", ttlNull: true},
	{name: "example.org", typ: "A", content: "192.0.2.6", ttlNull: true},
	{name: "ns1.example.org", typ: "A", content: "192.0.2.53", ttlNull: true},
	{name: "a.example.net", typ: "A", content: "198.51.100.1", ttlNull: true},
	{name: "bad.example.org", typ: "A", content: "2001:db8::9", ttlNull: true},
	{name: "mx.example.org", typ: "MX", content: "10 mail.example.org", ttlNull: true},
}

const soaOrg = "example.org. 30 IN SOA ns1.example.org. hostmaster.example.org. 7 7200 1800 1209600 30"

func newTestPlugin(rows []rawRow) *DBRecords {
	cfg := &config{zones: []string{"example.org.", "example.net."}, ttl: 60, negativeTTL: 30, ns: []string{"ns1.example.org.", "ns2.example.org."}}
	d := New(cfg)
	b := newFullBuilder(0, len(cfg.zones))
	for _, r := range rows {
		if sr, reason := parseRow(r, cfg.zones, cfg.ttl); reason == rowValid {
			b.add(sr.fqdn, cfg.zones[sr.zone], sr.zone, sr.rec)
		}
	}
	d.snap.Store(b.finish(7))
	d.Next = test.ErrorHandler()
	return d
}

var lookupCases = []test.Case{
	{
		Qname: "www.example.org.", Qtype: dns.TypeA,
		Answer: []dns.RR{test.A("www.example.org. 300 IN A 192.0.2.2"), test.A("www.example.org. 60 IN A 192.0.2.1")},
	},
	{
		Qname: "WwW.Example.ORG.", Qtype: dns.TypeAAAA,
		Answer: []dns.RR{test.AAAA("WwW.Example.ORG. 60 IN AAAA 2001:db8::1")},
	},
	{
		Qname: "v4only.example.org.", Qtype: dns.TypeAAAA,
		Ns: []dns.RR{test.SOA(soaOrg)},
	},
	{
		Qname: "www.example.org.", Qtype: dns.TypeMX,
		Ns: []dns.RR{test.SOA(soaOrg)},
	},
	{
		Qname: "mx.example.org.", Qtype: dns.TypeMX, Rcode: dns.RcodeNameError,
		Ns: []dns.RR{test.SOA(soaOrg)},
	},
	{
		Qname: "nope.example.org.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError,
		Ns: []dns.RR{test.SOA(soaOrg)},
	},
	{
		Qname: "bad.example.org.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError,
		Ns: []dns.RR{test.SOA(soaOrg)},
	},
	// Empty non-terminal: NODATA, never NXDOMAIN.
	{
		Qname: "ent.example.org.", Qtype: dns.TypeA,
		Ns: []dns.RR{test.SOA(soaOrg)},
	},
	{
		Qname: "deep.ent.example.org.", Qtype: dns.TypeA,
		Answer: []dns.RR{test.A("deep.ent.example.org. 60 IN A 192.0.2.4")},
	},
	// Below an empty non-terminal that has no wildcard: NXDOMAIN.
	{
		Qname: "x.ent.example.org.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError,
		Ns: []dns.RR{test.SOA(soaOrg)},
	},
	// Wildcards (RFC 4592): synthesised with the query name, several labels deep.
	{
		Qname: "Anything.wild.example.org.", Qtype: dns.TypeA,
		Answer: []dns.RR{test.A("Anything.wild.example.org. 60 IN A 192.0.2.5")},
	},
	{
		Qname: "a.b.c.wild.example.org.", Qtype: dns.TypeA,
		Answer: []dns.RR{test.A("a.b.c.wild.example.org. 60 IN A 192.0.2.5")},
	},
	{
		Qname: "anything.wild.example.org.", Qtype: dns.TypeAAAA,
		Ns: []dns.RR{test.SOA(soaOrg)},
	},
	// An existing name blocks the wildcard, for every type and below it.
	{
		Qname: "host.wild.example.org.", Qtype: dns.TypeA,
		Ns: []dns.RR{test.SOA(soaOrg)},
	},
	{
		Qname: "sub.host.wild.example.org.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError,
		Ns: []dns.RR{test.SOA(soaOrg)},
	},
	// The wildcard's parent is itself an empty non-terminal.
	{
		Qname: "wild.example.org.", Qtype: dns.TypeA,
		Ns: []dns.RR{test.SOA(soaOrg)},
	},
	{
		Qname: "*.wild.example.org.", Qtype: dns.TypeA,
		Answer: []dns.RR{test.A("*.wild.example.org. 60 IN A 192.0.2.5")},
	},
	// Apex.
	{
		Qname: "example.org.", Qtype: dns.TypeSOA,
		Answer: []dns.RR{test.SOA("example.org. 60 IN SOA ns1.example.org. hostmaster.example.org. 7 7200 1800 1209600 30")},
	},
	{
		Qname: "example.org.", Qtype: dns.TypeNS,
		Answer: []dns.RR{test.NS("example.org. 60 IN NS ns1.example.org."), test.NS("example.org. 60 IN NS ns2.example.org.")},
		Extra:  []dns.RR{test.A("ns1.example.org. 60 IN A 192.0.2.53")},
	},
	{
		Qname: "example.org.", Qtype: dns.TypeA,
		Answer: []dns.RR{test.A("example.org. 60 IN A 192.0.2.6")},
	},
	{
		Qname: "example.org.", Qtype: dns.TypeAAAA,
		Ns: []dns.RR{test.SOA(soaOrg)},
	},
	// Second zone of the same block, whose apex has no rows.
	{
		Qname: "a.example.net.", Qtype: dns.TypeA,
		Answer: []dns.RR{test.A("a.example.net. 60 IN A 198.51.100.1")},
	},
	{
		Qname: "example.net.", Qtype: dns.TypeA,
		Ns: []dns.RR{test.SOA("example.net. 30 IN SOA ns1.example.org. hostmaster.example.net. 7 7200 1800 1209600 30")},
	},
	{
		Qname: "b.example.net.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError,
		Ns: []dns.RR{test.SOA("example.net. 30 IN SOA ns1.example.org. hostmaster.example.net. 7 7200 1800 1209600 30")},
	},
}

func TestLookup(t *testing.T) {
	d := newTestPlugin(testRows)
	for _, tc := range lookupCases {
		t.Run(dns.TypeToString[tc.Qtype]+" "+tc.Qname, func(t *testing.T) {
			m := tc.Msg()
			rec := dnstest.NewRecorder(&test.ResponseWriter{})
			if _, err := d.ServeDNS(context.Background(), rec, m); err != nil {
				t.Fatalf("Expected no error, got %v", err)
			}
			if rec.Msg == nil {
				t.Fatal("Expected a reply, got none")
			}
			if !rec.Msg.Authoritative {
				t.Error("Expected the AA bit, got none")
			}
			if err := test.SortAndCheck(rec.Msg, tc); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestOutsideZonesGoesToNext(t *testing.T) {
	d := newTestPlugin(testRows)
	d.Next = test.NextHandler(dns.RcodeRefused, nil)
	rec := dnstest.NewRecorder(&test.ResponseWriter{})
	m := new(dns.Msg)
	m.SetQuestion("www.example.com.", dns.TypeA)
	rcode, _ := d.ServeDNS(context.Background(), rec, m)
	if rcode != dns.RcodeRefused || rec.Msg != nil {
		t.Errorf("Expected the next plugin's REFUSED and no reply written, got rcode %d and %v", rcode, rec.Msg)
	}
}

func TestFallthrough(t *testing.T) {
	d := newTestPlugin(testRows)
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
