package test

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/test"

	"github.com/miekg/dns"
)

// answerRows is the table behind TestAnswers: [name, type, content, ttl].
var answerRows = [][4]any{
	{"www.example.org", "A", "192.0.2.1", nil},
	{"WWW.Example.org.", "a", "192.0.2.2", 300},
	{"www.example.org", "AAAA", "2001:db8::1", nil},
	{"v4only.example.org", "A", "192.0.2.3", nil},
	{"deep.ent.example.org", "A", "192.0.2.4", nil},
	{"*.wild.example.org", "A", "192.0.2.5", nil},
	{"host.wild.example.org", "AAAA", "2001:db8::5", nil},
	{"example.org", "A", "192.0.2.6", nil},
	{"ns1.example.org", "A", "192.0.2.53", nil},
	{"a.example.net", "A", "198.51.100.1", 120},
	// Rows that cannot be served: skipped, counted, and the rest still served.
	{"bad-address.example.org", "A", "2001:db8::9", nil},
	{"bad-type.example.org", "MX", "10 mail.example.org", nil},
	{"bad name.example.org", "A", "192.0.2.9", nil},
	{"outside.example.com", "A", "192.0.2.9", nil},
	{"bad-ttl.example.org", "A", "192.0.2.9", 4294967295},
}

const invalidAnswerRows = 5

func insertRows(t *testing.T, db *sql.DB, rows [][4]any) {
	t.Helper()
	for _, r := range rows {
		exec1(t, db, "INSERT INTO dns_records (name, type, content, ttl) VALUES (?, ?, ?, ?)", r[:]...)
	}
}

// soa returns the negative-answer SOA of zone; the serial is not compared.
func soa(zone string) dns.RR {
	return test.SOA(zone + " 30 IN SOA ns1.example.org. hostmaster." + zone + " 0 7200 1800 1209600 30")
}

var answerCases = []test.Case{
	// A/AAAA with rows: one RR per row, TTL from the row or the default.
	{Qname: "www.example.org.", Qtype: dns.TypeA, Answer: []dns.RR{
		test.A("www.example.org. 300 IN A 192.0.2.2"), test.A("www.example.org. 60 IN A 192.0.2.1"),
	}},
	{Qname: "www.example.org.", Qtype: dns.TypeAAAA, Answer: []dns.RR{test.AAAA("www.example.org. 60 IN AAAA 2001:db8::1")}},
	// The owner name keeps the query's case.
	{Qname: "wWw.EXAMPLE.org.", Qtype: dns.TypeAAAA, Answer: []dns.RR{test.AAAA("wWw.EXAMPLE.org. 60 IN AAAA 2001:db8::1")}},
	// NODATA: the name exists, the type does not (other qtypes included).
	{Qname: "v4only.example.org.", Qtype: dns.TypeAAAA, Ns: []dns.RR{soa("example.org.")}},
	{Qname: "v4only.example.org.", Qtype: dns.TypeMX, Ns: []dns.RR{soa("example.org.")}},
	{Qname: "v4only.example.org.", Qtype: dns.TypeTXT, Ns: []dns.RR{soa("example.org.")}},
	{Qname: "v4only.example.org.", Qtype: dns.TypeCNAME, Ns: []dns.RR{soa("example.org.")}},
	// NXDOMAIN with the SOA.
	{Qname: "nope.example.org.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa("example.org.")}},
	{Qname: "nope.example.org.", Qtype: dns.TypeTXT, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa("example.org.")}},
	// Empty non-terminal: NODATA, never NXDOMAIN.
	{Qname: "ent.example.org.", Qtype: dns.TypeA, Ns: []dns.RR{soa("example.org.")}},
	{Qname: "deep.ent.example.org.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("deep.ent.example.org. 60 IN A 192.0.2.4")}},
	// Wildcards (RFC 4592).
	{Qname: "anything.wild.example.org.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("anything.wild.example.org. 60 IN A 192.0.2.5")}},
	{Qname: "a.b.wild.example.org.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("a.b.wild.example.org. 60 IN A 192.0.2.5")}},
	{Qname: "anything.wild.example.org.", Qtype: dns.TypeAAAA, Ns: []dns.RR{soa("example.org.")}},
	// An existing name blocks the wildcard; so does an empty non-terminal.
	{Qname: "host.wild.example.org.", Qtype: dns.TypeA, Ns: []dns.RR{soa("example.org.")}},
	{Qname: "x.host.wild.example.org.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa("example.org.")}},
	{Qname: "x.ent.example.org.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa("example.org.")}},
	// Apex: SOA (MNAME is the first ns), NS with glue, and apex rows.
	{Qname: "example.org.", Qtype: dns.TypeNS,
		Answer: []dns.RR{test.NS("example.org. 60 IN NS ns1.example.org."), test.NS("example.org. 60 IN NS ns2.example.org.")},
		Extra:  []dns.RR{test.A("ns1.example.org. 60 IN A 192.0.2.53")}},
	{Qname: "example.org.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("example.org. 60 IN A 192.0.2.6")}},
	{Qname: "example.org.", Qtype: dns.TypeAAAA, Ns: []dns.RR{soa("example.org.")}},
	// The second zone of the server block.
	{Qname: "a.example.net.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("a.example.net. 120 IN A 198.51.100.1")}},
	{Qname: "example.net.", Qtype: dns.TypeA, Ns: []dns.RR{soa("example.net.")}},
	{Qname: "nope.example.net.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa("example.net.")}},
	// Invalid rows are not served.
	{Qname: "bad-address.example.org.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa("example.org.")}},
	{Qname: "bad-ttl.example.org.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa("example.org.")}},
}

// zeroSerials lets test.SortAndCheck compare SOA records whose serial moves.
func zeroSerials(rrs []dns.RR) {
	for _, rr := range rrs {
		if s, ok := rr.(*dns.SOA); ok {
			s.Serial = 0
		}
	}
}

func TestAnswers(t *testing.T) {
	db, dsn := newDB(t)
	insertRows(t, db, answerRows)
	s := start(t, dsn)

	for _, proto := range []string{"udp", "tcp"} {
		for _, tc := range answerCases {
			t.Run(proto+" "+dns.TypeToString[tc.Qtype]+" "+tc.Qname, func(t *testing.T) {
				resp := query(t, s.dns, proto, tc.Qname, tc.Qtype)
				if !resp.Authoritative {
					t.Errorf("Expected the AA bit, got none")
				}
				zeroSerials(resp.Ns)
				if err := test.SortAndCheck(resp, tc); err != nil {
					t.Error(err)
				}
			})
		}
	}

	t.Run("apex SOA", func(t *testing.T) {
		resp := query(t, s.dns, "udp", "example.org.", dns.TypeSOA)
		if len(resp.Answer) != 1 {
			t.Fatalf("Expected one SOA, got %v", resp.Answer)
		}
		soa := resp.Answer[0].(*dns.SOA)
		if soa.Ns != "ns1.example.org." || soa.Mbox != "hostmaster.example.org." || soa.Minttl != 30 || soa.Serial == 0 {
			t.Errorf("Expected SOA ns1.example.org. hostmaster.example.org. with minimum 30 and a serial, got %s", soa)
		}
	})

	t.Run("invalid rows are counted", func(t *testing.T) {
		lines := s.metricLines(t, "coredns_dbrecords_invalid_rows{")
		if len(lines) != 1 || !strings.HasSuffix(lines[0], " 5") {
			t.Errorf("Expected coredns_dbrecords_invalid_rows to be %d, got %v", invalidAnswerRows, lines)
		}
	})

	t.Run("truncation and EDNS0", func(t *testing.T) {
		for i := range 40 {
			exec1(t, db, "INSERT INTO dns_records (name, type, content) VALUES ('big.example.org', 'A', ?)", fmt.Sprintf("198.51.100.%d", i))
		}
		var resp *dns.Msg
		waitFor(t, 5*time.Second, "the 40-address RRset over TCP", func() bool {
			resp = query(t, s.dns, "tcp", "big.example.org.", dns.TypeA)
			return len(resp.Answer) == 40
		})
		if resp = query(t, s.dns, "udp", "big.example.org.", dns.TypeA); !resp.Truncated {
			t.Errorf("Expected TC over UDP without EDNS0 for 40 addresses, got %d answers and no TC", len(resp.Answer))
		}
		m := new(dns.Msg)
		m.SetQuestion("big.example.org.", dns.TypeA)
		m.SetEdns0(4096, false)
		resp, err := dns.Exchange(m, s.dns)
		if err != nil || resp.Truncated || len(resp.Answer) != 40 || resp.IsEdns0() == nil {
			t.Errorf("Expected all 40 addresses over UDP with EDNS0 4096, got %v (err %v)", resp, err)
		}
	})

	t.Run("outside the zones is refused", func(t *testing.T) {
		resp := query(t, s.dns, "udp", "www.example.com.", dns.TypeA)
		if resp.Rcode != dns.RcodeRefused {
			t.Errorf("Expected REFUSED for a zone the server does not serve, got %s", dns.RcodeToString[resp.Rcode])
		}
	})
}

// TestFallthrough runs dbrecords with fallthrough in front of whoami: only
// names that would be NXDOMAIN reach whoami.
func TestFallthrough(t *testing.T) {
	db, dsn := newDB(t)
	insertRows(t, db, [][4]any{{"www.example.org", "A", "192.0.2.1", nil}})
	s := startCorefile(t, `example.org:{DNS} {
	dbrecords {
		dsn `+dsn+`
		fallthrough
	}
	whoami
	ready {READY}
}
`)
	s.waitReady(t)

	resp := query(t, s.dns, "udp", "nope.example.org.", dns.TypeA)
	if resp.Rcode != dns.RcodeSuccess || len(resp.Extra) == 0 {
		t.Errorf("Expected whoami's answer for a name dbrecords lacks, got %s with extra %v", dns.RcodeToString[resp.Rcode], resp.Extra)
	}
	resp = query(t, s.dns, "udp", "www.example.org.", dns.TypeAAAA)
	if resp.Rcode != dns.RcodeSuccess || len(resp.Ns) != 1 || resp.Ns[0].Header().Rrtype != dns.TypeSOA {
		t.Errorf("Expected dbrecords' own NODATA for an existing name, got %s with authority %v", dns.RcodeToString[resp.Rcode], resp.Ns)
	}
	resp = query(t, s.dns, "udp", "www.example.org.", dns.TypeA)
	if len(resp.Answer) != 1 {
		t.Errorf("Expected dbrecords' answer for www, got %v", resp.Answer)
	}
}

// TestCacheInFront: with cache in the same server block, a change is still
// served within a refresh period, because dbrecords' zones bypass the cache.
func TestCacheInFront(t *testing.T) {
	db, dsn := newDB(t)
	insertRows(t, db, [][4]any{{"www.example.org", "A", "192.0.2.1", 3600}})
	s := startCorefile(t, strings.Replace(serverBlock(dsn), "\tdbrecords {", "\tcache 3600\n\tdbrecords {", 1))
	s.waitReady(t)
	if got := answerA(t, s, "www.example.org."); got != "192.0.2.1" {
		t.Fatalf("Expected 192.0.2.1, got %s", got)
	}
	exec1(t, db, "UPDATE dns_records SET content = '192.0.2.2'")
	waitFor(t, 5*time.Second, "the update despite a cache with TTL 3600 in front", func() bool {
		return answerA(t, s, "www.example.org.") == "192.0.2.2"
	})
}
