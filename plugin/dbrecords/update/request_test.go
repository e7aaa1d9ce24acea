package update

import (
	"fmt"
	"strings"
	"testing"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/records"
	"github.com/miekg/dns"
)

func TestPolicy(t *testing.T) {
	p := Policy{
		{Key: "k.", Names: []string{"*.apps.example.org.", "x.example.org."}, Types: []uint16{dns.TypeA}},
		{Key: "all.", Names: []string{"example.org."}, Types: []uint16{dns.TypeANY}},
	}
	for _, c := range []struct {
		key, name string
		t         uint16
		want      bool
	}{
		{"k.", "a.apps.example.org.", dns.TypeA, true},
		{"k.", "a.b.apps.example.org.", dns.TypeA, true},
		{"k.", "*.apps.example.org.", dns.TypeA, true},
		{"k.", "apps.example.org.", dns.TypeA, false}, // *.NAME is below NAME only
		{"k.", "xapps.example.org.", dns.TypeA, false},
		{"k.", "x.example.org.", dns.TypeA, true},
		{"k.", "y.x.example.org.", dns.TypeA, false},
		{"k.", "a.apps.example.org.", dns.TypeTXT, false},
		{"k.", "a.apps.example.org.", dns.TypeANY, false}, // every RRset needs ANY
		{"all.", "example.org.", dns.TypeANY, true},
		{"all.", "example.org.", dns.TypeMX, true},
		{"all.", "x.example.org.", dns.TypeMX, false},
		{"other.", "x.example.org.", dns.TypeA, false},
	} {
		if got := p.Allows(c.key, c.name, c.t); got != c.want {
			t.Errorf("Expected Allows(%s, %s, %s) = %v, got %v", c.key, c.name, dns.TypeToString[c.t], c.want, got)
		}
	}
	if !p.Knows("k.") || p.Knows("other.") {
		t.Error("Expected Knows to report the keys the rules name")
	}
}

func TestParseForm(t *testing.T) {
	zones := records.NewZoneSet([]string{"example.org.", "sub.example.org.", "example.net."}, nil)
	// rr parses a record; "NAME TTL CLASS TYPE" without data is one of
	// the data-less records of prerequisites and deletions.
	rr := func(s string) dns.RR {
		if f := strings.Fields(s); len(f) == 4 {
			var ttl uint32
			fmt.Sscan(f[1], &ttl)
			return &dns.ANY{Hdr: dns.RR_Header{Name: f[0], Ttl: ttl, Class: dns.StringToClass[f[2]], Rrtype: dns.StringToType[f[3]]}}
		}
		r, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	msg := func(prereq, upd []string) *dns.Msg {
		m := new(dns.Msg)
		m.SetUpdate("example.org.")
		for _, s := range prereq {
			m.Answer = append(m.Answer, rr(s))
		}
		for _, s := range upd {
			m.Ns = append(m.Ns, rr(s))
		}
		return m
	}
	for _, c := range []struct {
		name         string
		prereq, upd  []string
		rcode        int
		errSubstring string
	}{
		{"prereq with a TTL", []string{"a.example.org. 60 ANY ANY"}, nil, dns.RcodeFormatError, "TTL"},
		{"prereq of class CH", []string{"a.example.org. 0 CH A 1.2.3.4"}, nil, dns.RcodeFormatError, "class"},
		{"prereq outside the zone", []string{"a.example.net. 0 ANY ANY"}, nil, dns.RcodeNotZone, "not in zone"},
		{"prereq in a child zone", []string{"a.sub.example.org. 0 ANY ANY"}, nil, dns.RcodeNotZone, "not in zone"},
		{"delete with a TTL", nil, []string{"a.example.org. 60 ANY A"}, dns.RcodeFormatError, "TTL"},
		{"delete of class NONE with a TTL", nil, []string{"a.example.org. 60 NONE A 192.0.2.1"}, dns.RcodeFormatError, "TTL"},
		{"add of a meta-type", nil, []string{"a.example.org. 60 IN AXFR"}, dns.RcodeFormatError, "meta-type"},
		{"add of the SOA", nil, []string{"example.org. 60 IN SOA ns. h. 1 2 3 4 5"}, dns.RcodeRefused, "SOA"},
		{"delete of the apex NS", nil, []string{"example.org. 0 ANY NS"}, dns.RcodeRefused, "NS"},
		{"add of a type not served", nil, []string{"a.example.org. 60 IN HINFO a b"}, dns.RcodeFormatError, "not served"},
		{"add of a CNAME at the apex", nil, []string{"example.org. 60 IN CNAME a.example.org."}, dns.RcodeFormatError, "CNAME or DS at a zone apex"},
		{"add of an NS at a wildcard", nil, []string{"*.example.org. 60 IN NS ns.example.net."}, dns.RcodeFormatError, "wildcard"},
		{"too many records", nil, []string{"a.example.org. 60 IN A 192.0.2.1", "a.example.org. 60 IN A 192.0.2.2", "a.example.org. 60 IN A 192.0.2.3"}, dns.RcodeFormatError, "more than the 2 allowed"},
	} {
		_, err := Parse(msg(c.prereq, c.upd), zones, 0, 60, 2)
		if err == nil || err.Rcode != c.rcode || !strings.Contains(err.Why, c.errSubstring) {
			t.Errorf("%s: expected %s (%q), got %v", c.name, dns.RcodeToString[c.rcode], c.errSubstring, err)
		}
	}

	m := msg([]string{"a.example.org. 0 NONE ANY"}, []string{"a.example.org. 60 IN TXT \"secret token\"", "a.example.org. 0 ANY ANY"})
	req, err := Parse(m, zones, 0, 60, 10)
	if err != nil {
		t.Fatalf("Expected a valid update, got %v", err)
	}
	if s := req.Summary(); s != "1 prerequisites, add TXT ×1, delete every RRset ×1 at a.example.org." || strings.Contains(s, "secret") {
		t.Errorf("Expected a summary without data, got %q", s)
	}
	if err := req.Authorize(Policy{{Key: "k.", Names: []string{"a.example.org."}, Types: []uint16{dns.TypeTXT}}}, "k."); err == nil || err.Rcode != dns.RcodeRefused {
		t.Errorf("Expected deleting every RRset to need ANY, got %v", err)
	}
}
