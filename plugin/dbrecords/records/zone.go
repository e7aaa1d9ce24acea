package records

import (
	"strings"

	"github.com/miekg/dns"
)

// Zone is one zone a dbrecords block serves, with the fixed fields of its SOA.
type Zone struct {
	Name  string // lower-case FQDN
	MName string // SOA MNAME: the first ns, or ns.dns.<zone>
	MBox  string // SOA RNAME: hostmaster.<zone>
}

// ZoneSet is the zones of one dbrecords block.
type ZoneSet struct {
	List []*Zone
}

// NewZoneSet returns the zones named (lower-case FQDNs); ns are the name servers.
func NewZoneSet(names, ns []string) ZoneSet {
	var zs ZoneSet
	for _, n := range names {
		z := &Zone{Name: n, MName: "ns.dns." + n, MBox: "hostmaster." + n}
		if n == "." {
			z.MName, z.MBox = "ns.dns.", "hostmaster."
		}
		if len(ns) > 0 {
			z.MName = ns[0]
		}
		zs.List = append(zs.List, z)
	}
	return zs
}

// Match returns the index of the most specific zone that holds the
// lower-case FQDN name, or -1. It does what plugin.Zones.Matches does
// without its allocations (dns.IsSubDomain splits both names), since it runs
// for every query.
func (zs ZoneSet) Match(name string) int {
	best := -1
	for i, z := range zs.List {
		if InZone(name, z.Name) && (best < 0 || len(z.Name) > len(zs.List[best].Name)) {
			best = i
		}
	}
	return best
}

// Parent returns the zone of the set that zone zi's apex lies in, zi not
// counted: the zone that delegates zi (RFC 4035 section 3.1.4.1 answers its
// DS there); -1 when no zone of the set holds it.
func (zs ZoneSet) Parent(zi int) int {
	best := -1
	for i, z := range zs.List {
		if i != zi && InZone(zs.List[zi].Name, z.Name) && (best < 0 || len(z.Name) > len(zs.List[best].Name)) {
			best = i
		}
	}
	return best
}

// Below reports whether a zone of the set other than zi lies strictly below
// name: name, in zone zi, is then an empty non-terminal of zi at least.
func (zs ZoneSet) Below(zi int, name string) bool {
	for i, z := range zs.List {
		if i != zi && z.Name != name && InZone(z.Name, name) {
			return true
		}
	}
	return false
}

// Children returns the zones whose parent (see Parent) is zone zi.
func (zs ZoneSet) Children(zi int) []int {
	var out []int
	for i := range zs.List {
		if i != zi && zs.Parent(i) == zi {
			out = append(out, i)
		}
	}
	return out
}

// InZone reports whether the lower-case FQDN name is zone or lies below it.
// The suffix must start at a label boundary as dns.PrevLabel finds it, so
// an escaped dot ("a\.example.org.") is not one.
func InZone(name, zone string) bool {
	switch {
	case zone == ".":
		return true
	case !strings.HasSuffix(name, zone):
		return false
	case len(name) == len(zone):
		return true
	}
	i, start := dns.PrevLabel(name, dns.CountLabel(zone))
	return !start && name[i:] == zone
}
