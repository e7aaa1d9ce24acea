package records

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// TestParseTypes: content of every served type becomes the record a zone
// file with the same line gives (names absolute and in lower case), and
// content that is not such a record is refused with badContent.
func TestParseTypes(t *testing.T) {
	zones := NewZoneSet([]string{"example.org."}, nil)
	long := strings.Repeat("k", 600)
	for _, tc := range []struct {
		typ, content string
		want         string // the record's presentation after the type; "" for badContent
	}{
		{"CNAME", "App-7.Example.org", "app-7.example.org."},
		{"CNAME", "app-7.example.org.", "app-7.example.org."},
		{"cname", " app-7.example.org ", "app-7.example.org."},
		{"TXT", `"v=spf1 -all"`, `"v=spf1 -all"`},
		{"TXT", `"part one" "part two"`, `"part one" "part two"`},
		{"TXT", "token-abc", `"token-abc"`},
		{"TXT", `unquoted with "quotes" and \ backslash`, `"unquoted with \"quotes\" and \\ backslash"`},
		{"TXT", long, `"` + long[:255] + `" "` + long[255:510] + `" "` + long[510:] + `"`},
		{"TXT", `""`, `""`},
		{"MX", "10 Mail.example.org", "10 mail.example.org."},
		{"MX", "0 .", "0 ."},
		{"SRV", "10 5 5060 sip.example.org", "10 5 5060 sip.example.org."},
		{"SRV", "0 0 0 .", "0 0 0 ."},
		{"CAA", `0 issue "letsencrypt.org"`, `0 issue "letsencrypt.org"`},
		{"CAA", `128 iodef "mailto:ops@example.org"`, `128 iodef "mailto:ops@example.org"`},
		{"NS", "NS1.team.example.org", "ns1.team.example.org."},
		{"DS", "12345 13 2 2BB183AF5F22588179A53B0A98631FAD1A292118B8A2B0D9B1CA9B7A32C5C5A8", "12345 13 2 2BB183AF5F22588179A53B0A98631FAD1A292118B8A2B0D9B1CA9B7A32C5C5A8"},
		{"PTR", "host.example.org", "host.example.org."},
		// Refused: not a record of the type, or not a name a record may point at.
		{"MX", "mail.example.org", ""},
		{"MX", "10", ""},
		{"SRV", "10 5 sip.example.org", ""},
		{"NS", "192.0.2.1", ""},
		{"NS", "2001:db8::1", ""},
		{"CNAME", "*.example.org", ""},
		{"CNAME", "a b", ""},
		{"CNAME", "", ""},
		{"TXT", "", ""},
		{"TXT", "line\nbreak", ""},
		{"TXT", strings.Repeat("x", MaxContent+1), ""},
		{"TXT", strings.Repeat("é", MaxContent+1), ""},
		{"CAA", "0 issue", ""},
		{"DS", "12345 13 2", ""},
		{"DS", "12345 13 2 zz", ""},
		{"PTR", "bad..name", ""},
		{"MX", "10 a.example.org\n20 b.example.org", ""},
	} {
		sr, reason := Parse(Row{Name: "a.example.org", Type: tc.typ, Content: tc.content, TTLNull: true}, zones, 60)
		what := tc.typ + " " + strings.ReplaceAll(tc.content, "\n", `\n`)
		if tc.want == "" {
			if reason != badContent {
				t.Errorf("%s: expected %q, got %q (%q)", what, badContent, reason, sr.Rec.Content())
			}
			continue
		}
		if reason != Valid {
			t.Errorf("%s: expected it served, got %q", what, reason)
			continue
		}
		if got := sr.Rec.Content(); got != tc.want {
			t.Errorf("%s: expected %q, got %q", what, tc.want, got)
		}
		if sr.Rec.RR("a.example.org.") == nil {
			t.Errorf("%s: expected the data to unpack", what)
		}
	}
}

// TestContentLimit: the limit is in characters, as the column's is.
func TestContentLimit(t *testing.T) {
	zones := NewZoneSet([]string{"example.org."}, nil)
	if _, reason := Parse(Row{Name: "a.example.org", Type: "TXT", Content: strings.Repeat("é", MaxContent), TTLNull: true}, zones, 60); reason != Valid {
		t.Errorf("Expected %d two-byte characters served, got %q", MaxContent, reason)
	}
}

// TestParseTypesByName: rules that depend on where a record is.
func TestParseTypesByName(t *testing.T) {
	zones := NewZoneSet([]string{"example.org."}, nil)
	for _, tc := range []struct {
		name, typ, content string
		want               Reason
	}{
		{"example.org", "CNAME", "www.example.org", cnameApex},
		{"example.org", "DS", "12345 13 2 2BB183AF5F22588179A53B0A98631FAD1A292118B8A2B0D9B1CA9B7A32C5C5A8", cnameApex},
		{"example.org", "NS", "ns3.example.net", Valid},
		{"example.org", "TXT", "x", Valid},
		{"*.example.org", "NS", "ns.example.net", wildcardCut},
		{"*.example.org", "DS", "12345 13 2 2BB183AF5F22588179A53B0A98631FAD1A292118B8A2B0D9B1CA9B7A32C5C5A8", wildcardCut},
		{"*.example.org", "CNAME", "www.example.org", Valid},
		{"a.example.org", "HINFO", `"cpu" "os"`, badType},
		{"a.example.org", "SOA", "ns1.example.org. h.example.org. 1 2 3 4 5", badType},
		{"a.example.org", "RRSIG", "A 13 3 60 20261223060954 20261203123446 45100 example.org. AAAA", badType},
	} {
		if _, reason := Parse(Row{Name: tc.name, Type: tc.typ, Content: tc.content, TTLNull: true}, zones, 60); reason != tc.want {
			t.Errorf("%s %s %s: expected %q, got %q", tc.name, tc.typ, tc.content, tc.want, reason)
		}
	}
}

// TestSettle: a name's rows judged together; what breaks a rule goes, the
// rest stays, and every dropped row is counted.
func TestSettle(t *testing.T) {
	rec := func(typ, content string) Record {
		sr, reason := Parse(Row{Name: "a.example.org", Type: typ, Content: content, TTLNull: true}, NewZoneSet([]string{"example.org."}, nil), 60)
		if reason != Valid {
			t.Fatalf("%s %s: %v", typ, content, reason)
		}
		return sr.Rec
	}
	ds := rec("DS", "12345 13 2 2BB183AF5F22588179A53B0A98631FAD1A292118B8A2B0D9B1CA9B7A32C5C5A8")
	for _, tc := range []struct {
		name  string
		in    []Record
		types []uint16
		drops []Drop
	}{
		{"a CNAME alone", []Record{rec("CNAME", "b.example.org")}, []uint16{dns.TypeCNAME}, nil},
		{"a CNAME beside an A", []Record{rec("A", "192.0.2.1"), rec("CNAME", "b.example.org")}, []uint16{dns.TypeA}, []Drop{{CNAMEBeside, 1}}},
		{"two CNAMEs", []Record{rec("CNAME", "b.example.org"), rec("CNAME", "c.example.org")}, nil, []Drop{{CNAMEBeside, 2}}},
		{"a DS with NS", []Record{rec("NS", "ns.example.net"), ds}, []uint16{dns.TypeNS, dns.TypeDS}, nil},
		{"a DS without NS", []Record{rec("A", "192.0.2.1"), ds}, []uint16{dns.TypeA}, []Drop{{DSNoCut, 1}}},
		{"a CNAME beside a DS without NS", []Record{rec("CNAME", "b.example.org"), ds}, []uint16{dns.TypeCNAME}, []Drop{{DSNoCut, 1}}},
		{"a CNAME beside NS and DS", []Record{rec("CNAME", "b.example.org"), rec("NS", "ns.example.net"), ds}, []uint16{dns.TypeNS, dns.TypeDS}, []Drop{{CNAMEBeside, 1}}},
	} {
		out, drops := Settle(tc.in)
		var types []uint16
		for _, r := range out {
			types = append(types, r.Type)
		}
		if !equal(types, tc.types) || len(drops) != len(tc.drops) {
			t.Errorf("%s: expected types %v and drops %v, got %v and %v", tc.name, tc.types, tc.drops, types, drops)
			continue
		}
		for i := range drops {
			if drops[i] != tc.drops[i] {
				t.Errorf("%s: expected drops %v, got %v", tc.name, tc.drops, drops)
			}
		}
	}
}

func equal(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// FuzzParse: no content makes Parse panic, and what it serves unpacks and
// reads back, through its presentation form, as the same data.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"10 mail.example.org", `"a" "b"`, "token", `0 issue "x"`, "1 2 3 .", "12345 13 2 AB", "a.example.org", "(", `"\`, "\\000", ";", "$INCLUDE /etc/passwd"} {
		for _, typ := range []string{"MX", "TXT", "CAA", "SRV", "DS", "CNAME", "NS", "PTR"} {
			f.Add(typ, s)
		}
	}
	zones := NewZoneSet([]string{"example.org."}, nil)
	f.Fuzz(func(t *testing.T, typ, content string) {
		sr, reason := Parse(Row{Name: "a.example.org", Type: typ, Content: content, TTLNull: true}, zones, 60)
		if reason != Valid || sr.Rec.Type == dns.TypeA || sr.Rec.Type == dns.TypeAAAA {
			return
		}
		if sr.Rec.RR("a.example.org.") == nil {
			t.Fatalf("%s content of %d bytes: served, but its data does not unpack", typ, len(content))
		}
		text := sr.Rec.Content()
		if len(text) > MaxContent {
			return // escapes (\DDD) may make the presentation longer than a row holds
		}
		again, reason := Parse(Row{Name: "a.example.org", Type: typ, Content: text, TTLNull: true}, zones, 60)
		if reason != Valid || again.Rec.Data != sr.Rec.Data {
			t.Fatalf("%s content of %d bytes: its presentation (%d bytes) reads back as %v", typ, len(content), len(text), reason)
		}
	})
}
