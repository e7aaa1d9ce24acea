package test

import (
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/test"

	"github.com/dbrecords/dbrecords/test/fixture"
	"github.com/miekg/dns"
)

func insertRows(t *testing.T, db *sql.DB, rows [][4]any) {
	t.Helper()
	for _, r := range rows {
		exec1(t, db, "INSERT INTO dns_records (name, type, content, ttl) VALUES (?, ?, ?, ?)", r[:]...)
	}
}

func TestAnswers(t *testing.T) {
	db, dsn := newDB(t)
	for _, r := range fixture.Rows {
		exec1(t, db, "INSERT INTO dns_records (name, type, content, ttl) VALUES (?, ?, ?, ?)", r.Name, r.Type, r.Content, r.TTL)
	}
	s := start(t, dsn)

	for _, proto := range []string{"udp", "tcp"} {
		for i, tc := range append(slices.Clone(fixture.Cases), fixture.Referrals...) {
			tc, aa := fixture.Sorted(tc), i < len(fixture.Cases)
			t.Run(proto+" "+dns.TypeToString[tc.Qtype]+" "+tc.Qname, func(t *testing.T) {
				resp := query(t, s.dns, proto, tc.Qname, tc.Qtype)
				if resp.Authoritative != aa {
					t.Errorf("Expected the AA bit %v, got %v", aa, resp.Authoritative)
				}
				fixture.ZeroSerials(resp.Ns)
				if err := test.SortAndCheck(resp, tc); err != nil {
					t.Error(err)
				}
			})
		}
	}

	for _, tc := range fixture.Refused {
		for _, proto := range []string{"udp", "tcp"} {
			if resp := query(t, s.dns, proto, tc.Qname, tc.Qtype); resp.Rcode != tc.Rcode || len(resp.Answer)+len(resp.Ns) != 0 {
				t.Errorf("Expected %s over %s for %s %s, got %s with %v %v", dns.RcodeToString[tc.Rcode], proto, tc.Qname, dns.TypeToString[tc.Qtype], dns.RcodeToString[resp.Rcode], resp.Answer, resp.Ns)
			}
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
		if len(lines) != 1 || !strings.HasSuffix(lines[0], fmt.Sprintf(" %d", fixture.Invalid)) {
			t.Errorf("Expected coredns_dbrecords_invalid_rows to be %d, got %v", fixture.Invalid, lines)
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

// TestRootZoneAndOtherClasses: a block that serves the root answers
// NXDOMAIN with an SOA that packs, and a query of another class is not
// answered from the table (it goes to the next plugin: here chaos).
func TestRootZoneAndOtherClasses(t *testing.T) {
	db, dsn := newDB(t)
	insertRows(t, db, [][4]any{{"www.example", "A", "192.0.2.1", nil}})
	s := startCorefile(t, `.:{DNS} {
	dbrecords {
		dsn `+dsn+`
	}
	chaos dbrecords-test
	ready {READY}
}
`)
	s.waitReady(t)
	if got := answerA(t, s, "www.example."); got != "192.0.2.1" {
		t.Errorf("Expected www.example from the root zone, got %s", got)
	}
	resp := query(t, s.dns, "udp", "nope.example.", dns.TypeA)
	if resp.Rcode != dns.RcodeNameError || len(resp.Ns) != 1 || resp.Ns[0].(*dns.SOA).Ns != "ns.dns." || resp.Ns[0].Header().Name != "." {
		t.Errorf("Expected NXDOMAIN with the root's SOA (MNAME ns.dns.), got %v", resp)
	}
	m := new(dns.Msg)
	m.SetQuestion("version.bind.", dns.TypeTXT)
	m.Question[0].Qclass = dns.ClassCHAOS
	resp, err := dns.Exchange(m, s.dns)
	if err != nil || len(resp.Answer) != 1 || !strings.Contains(resp.Answer[0].String(), "dbrecords-test") {
		t.Errorf("Expected chaos to answer version.bind CH TXT, got %v (%v)", resp, err)
	}
}

// TestManyRowsForOneName: a name with more rows than a replica serves
// (2,000) gets its first 2,000 by id, from a full read and from a poll
// alike; the rest are cut in the database, never read, and counted.
func TestManyRowsForOneName(t *testing.T) {
	db, dsn := newDB(t)
	exec1(t, db, "INSERT INTO dns_records (name, type, content) VALUES ('www.example.org', 'A', '192.0.2.1')")
	const rows = 2500
	values := make([]string, 0, rows)
	for i := range rows {
		values = append(values, fmt.Sprintf("('big.example.org', 'A', '10.0.%d.%d')", i>>8, i&255))
	}
	exec1(t, db, "INSERT INTO dns_records (name, type, content) VALUES "+strings.Join(values, ","))
	s := start(t, dsn)
	served := func() map[string]bool {
		got := map[string]bool{}
		for _, rr := range query(t, s.dns, "tcp", "big.example.org.", dns.TypeA).Answer {
			got[rr.(*dns.A).A.String()] = true
		}
		return got
	}
	first := served()
	if len(first) != 2000 || !first["10.0.0.0"] || !first["10.0.7.207"] || first["10.0.7.208"] {
		t.Fatalf("Expected the first 2000 rows by id (10.0.0.0 to 10.0.7.207), got %d addresses", len(first))
	}
	if n := s.counter(t, "coredns_dbrecords_invalid_rows"); n != rows-2000 {
		t.Errorf("Expected the %d rows past the cap counted, got %v", rows-2000, n)
	}
	// A poll re-reads the name: the same first 2000, the new row cut too.
	exec1(t, db, "INSERT INTO dns_records (name, type, content) VALUES ('big.example.org', 'A', '192.0.2.99')")
	exec1(t, db, "UPDATE dns_records SET content = '192.0.2.2' WHERE name = 'www.example.org'")
	waitFor(t, 5*time.Second, "the poll", func() bool { return answerA(t, s, "www.example.org.") == "192.0.2.2" })
	waitFor(t, 5*time.Second, "the cut row counted", func() bool { return s.counter(t, "coredns_dbrecords_invalid_rows") == rows-2000+1 })
	if again := served(); !maps.Equal(first, again) {
		t.Errorf("Expected a poll to serve the same 2000 addresses as the full read, got %d, differing", len(again))
	}
}
