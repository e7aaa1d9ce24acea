package dbrecords

import (
	"testing"
)

func TestParseRow(t *testing.T) {
	zones := newZoneSet([]string{"example.org.", "sub.example.org.", "example.net."}, nil)
	tests := []struct {
		name     string
		row      rawRow
		want     invalidReason
		wantFQDN string
		wantZone int
		wantTTL  uint32
	}{
		{name: "plain", row: rawRow{name: "www.example.org", typ: "A", content: "192.0.2.1", ttlNull: true}, wantFQDN: "www.example.org.", wantTTL: 60},
		{name: "case, dot and ttl", row: rawRow{name: "WWW.Example.ORG.", typ: "aaaa", content: "2001:DB8::1", ttl: 5}, wantFQDN: "www.example.org.", wantTTL: 5},
		{name: "most specific zone", row: rawRow{name: "a.sub.example.org", typ: "A", content: "192.0.2.1", ttlNull: true}, wantFQDN: "a.sub.example.org.", wantZone: 1, wantTTL: 60},
		{name: "apex", row: rawRow{name: "example.net", typ: "A", content: "192.0.2.1", ttlNull: true}, wantFQDN: "example.net.", wantZone: 2, wantTTL: 60},
		{name: "wildcard", row: rawRow{name: "*.example.org", typ: "A", content: "192.0.2.1", ttlNull: true}, wantFQDN: "*.example.org.", wantTTL: 60},
		{name: "max ttl", row: rawRow{name: "a.example.org", typ: "A", content: "192.0.2.1", ttl: maxTTL}, wantFQDN: "a.example.org.", wantTTL: maxTTL},
		{name: "mapped v4 as AAAA", row: rawRow{name: "a.example.org", typ: "AAAA", content: "::ffff:192.0.2.1", ttlNull: true}, wantFQDN: "a.example.org.", wantTTL: 60},
		{name: "outside zones", row: rawRow{name: "www.example.com", typ: "A", content: "192.0.2.1", ttlNull: true}, want: outsideZones},
		{name: "suffix is not a zone", row: rawRow{name: "wwwexample.org", typ: "A", content: "192.0.2.1", ttlNull: true}, want: outsideZones},
		{name: "empty name", row: rawRow{typ: "A", content: "192.0.2.1", ttlNull: true}, want: badName},
		{name: "space in name", row: rawRow{name: "a b.example.org", typ: "A", content: "192.0.2.1", ttlNull: true}, want: badName},
		{name: "leading space", row: rawRow{name: " a.example.org", typ: "A", content: "192.0.2.1", ttlNull: true}, want: badName},
		{name: "empty label", row: rawRow{name: "a..example.org", typ: "A", content: "192.0.2.1", ttlNull: true}, want: badName},
		{name: "inner wildcard", row: rawRow{name: "a.*.example.org", typ: "A", content: "192.0.2.1", ttlNull: true}, want: badName},
		{name: "long label", row: rawRow{name: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example.org", typ: "A", content: "192.0.2.1", ttlNull: true}, want: badName},
		{name: "type", row: rawRow{name: "a.example.org", typ: "CNAME", content: "b.example.org", ttlNull: true}, want: badType},
		{name: "v6 in A", row: rawRow{name: "a.example.org", typ: "A", content: "2001:db8::1", ttlNull: true}, want: badAddress},
		{name: "v4 in AAAA", row: rawRow{name: "a.example.org", typ: "AAAA", content: "192.0.2.1", ttlNull: true}, want: badAddress},
		{name: "mapped v4 in A", row: rawRow{name: "a.example.org", typ: "A", content: "::ffff:192.0.2.1", ttlNull: true}, want: badAddress},
		{name: "garbage address", row: rawRow{name: "a.example.org", typ: "A", content: "300.1.1.1", ttlNull: true}, want: badAddress},
		{name: "zoned address", row: rawRow{name: "a.example.org", typ: "AAAA", content: "fe80::1%eth0", ttlNull: true}, want: badAddress},
		{name: "ttl too large", row: rawRow{name: "a.example.org", typ: "A", content: "192.0.2.1", ttl: maxTTL + 1}, want: badTTL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, reason := parseRow(tc.row, zones, 60)
			if reason != tc.want {
				t.Fatalf("Expected %q, got %q", tc.want, reason)
			}
			if reason != rowValid {
				return
			}
			if got.fqdn != tc.wantFQDN || got.zone != tc.wantZone || got.rec.ttl != tc.wantTTL {
				t.Errorf("Expected %s in zone %d with TTL %d, got %s in zone %d with TTL %d", tc.wantFQDN, tc.wantZone, tc.wantTTL, got.fqdn, got.zone, got.rec.ttl)
			}
		})
	}
}
