package records

import (
	"testing"
)

func TestParseRow(t *testing.T) {
	zones := NewZoneSet([]string{"example.org.", "sub.example.org.", "example.net."}, nil)
	tests := []struct {
		name     string
		row      Row
		want     Reason
		wantFQDN string
		wantZone int
		wantTTL  uint32
	}{
		{name: "plain", row: Row{Name: "www.example.org", Type: "A", Content: "192.0.2.1", TTLNull: true}, wantFQDN: "www.example.org.", wantTTL: 60},
		{name: "case, dot and ttl", row: Row{Name: "WWW.Example.ORG.", Type: "aaaa", Content: "2001:DB8::1", TTL: 5}, wantFQDN: "www.example.org.", wantTTL: 5},
		{name: "most specific zone", row: Row{Name: "a.sub.example.org", Type: "A", Content: "192.0.2.1", TTLNull: true}, wantFQDN: "a.sub.example.org.", wantZone: 1, wantTTL: 60},
		{name: "apex", row: Row{Name: "example.net", Type: "A", Content: "192.0.2.1", TTLNull: true}, wantFQDN: "example.net.", wantZone: 2, wantTTL: 60},
		{name: "wildcard", row: Row{Name: "*.example.org", Type: "A", Content: "192.0.2.1", TTLNull: true}, wantFQDN: "*.example.org.", wantTTL: 60},
		{name: "max ttl", row: Row{Name: "a.example.org", Type: "A", Content: "192.0.2.1", TTL: MaxTTL}, wantFQDN: "a.example.org.", wantTTL: MaxTTL},
		{name: "mapped v4 as AAAA", row: Row{Name: "a.example.org", Type: "AAAA", Content: "::ffff:192.0.2.1", TTLNull: true}, wantFQDN: "a.example.org.", wantTTL: 60},
		{name: "outside zones", row: Row{Name: "www.example.com", Type: "A", Content: "192.0.2.1", TTLNull: true}, want: outsideZones},
		{name: "suffix is not a zone", row: Row{Name: "wwwexample.org", Type: "A", Content: "192.0.2.1", TTLNull: true}, want: outsideZones},
		{name: "empty name", row: Row{Type: "A", Content: "192.0.2.1", TTLNull: true}, want: badName},
		{name: "space in name", row: Row{Name: "a b.example.org", Type: "A", Content: "192.0.2.1", TTLNull: true}, want: badName},
		{name: "leading space", row: Row{Name: " a.example.org", Type: "A", Content: "192.0.2.1", TTLNull: true}, want: badName},
		{name: "empty label", row: Row{Name: "a..example.org", Type: "A", Content: "192.0.2.1", TTLNull: true}, want: badName},
		{name: "inner wildcard", row: Row{Name: "a.*.example.org", Type: "A", Content: "192.0.2.1", TTLNull: true}, want: badName},
		{name: "long label", row: Row{Name: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example.org", Type: "A", Content: "192.0.2.1", TTLNull: true}, want: badName},
		{name: "type", row: Row{Name: "a.example.org", Type: "HINFO", Content: `"cpu" "os"`, TTLNull: true}, want: badType},
		{name: "v6 in A", row: Row{Name: "a.example.org", Type: "A", Content: "2001:db8::1", TTLNull: true}, want: badAddress},
		{name: "v4 in AAAA", row: Row{Name: "a.example.org", Type: "AAAA", Content: "192.0.2.1", TTLNull: true}, want: badAddress},
		{name: "mapped v4 in A", row: Row{Name: "a.example.org", Type: "A", Content: "::ffff:192.0.2.1", TTLNull: true}, want: badAddress},
		{name: "garbage address", row: Row{Name: "a.example.org", Type: "A", Content: "300.1.1.1", TTLNull: true}, want: badAddress},
		{name: "zoned address", row: Row{Name: "a.example.org", Type: "AAAA", Content: "fe80::1%eth0", TTLNull: true}, want: badAddress},
		{name: "ttl too large", row: Row{Name: "a.example.org", Type: "A", Content: "192.0.2.1", TTL: MaxTTL + 1}, want: badTTL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, reason := Parse(tc.row, zones, 60)
			if reason != tc.want {
				t.Fatalf("Expected %q, got %q", tc.want, reason)
			}
			if reason != Valid {
				return
			}
			if got.FQDN != tc.wantFQDN || got.Zone != tc.wantZone || got.Rec.TTL != tc.wantTTL {
				t.Errorf("Expected %s in zone %d with TTL %d, got %s in zone %d with TTL %d", tc.wantFQDN, tc.wantZone, tc.wantTTL, got.FQDN, got.Zone, got.Rec.TTL)
			}
		})
	}
}
