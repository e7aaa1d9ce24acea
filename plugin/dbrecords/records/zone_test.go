package records

import "testing"

// TestZoneMatch: the most specific zone, label boundaries as DNS has them
// (an escaped dot is inside a label), the root, and names in no zone.
func TestZoneMatch(t *testing.T) {
	zs := NewZoneSet([]string{"example.org.", "sub.example.org.", "."}, nil)
	root := NewZoneSet([]string{"example.org."}, nil)
	tests := []struct {
		zones ZoneSet
		name  string
		want  int
	}{
		{zs, "www.example.org.", 0},
		{zs, "example.org.", 0},
		{zs, "a.sub.example.org.", 1},
		{zs, "sub.example.org.", 1},
		{zs, "www.example.com.", 2},
		{root, `a\.example.org.`, -1},
		{root, `x.a\.example.org.`, -1},
		{root, `a\.b.example.org.`, 0},
		{root, "wwwexample.org.", -1},
		{root, "org.", -1},
	}
	for _, tc := range tests {
		if got := tc.zones.Match(tc.name); got != tc.want {
			t.Errorf("Expected %q in zone %d, got %d", tc.name, tc.want, got)
		}
	}
}
