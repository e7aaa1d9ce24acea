package dbrecords

import (
	"slices"
	"sort"
	"strings"

	"github.com/miekg/dns"
)

// SOA timers other than the serial and minimum, as RFC 1912 suggests.
const (
	soaRefresh = 7200
	soaRetry   = 1800
	soaExpire  = 1209600
)

// zone is one zone a dbrecords block serves, with the fixed fields of its SOA.
type zone struct {
	name  string // lower-case FQDN
	mname string // SOA MNAME: the first ns, or ns.dns.<zone>
	mbox  string // SOA RNAME: hostmaster.<zone>
}

// zoneSet is the zones of one dbrecords block.
type zoneSet struct {
	list []*zone
}

// newZoneSet returns the zones named (lower-case FQDNs); ns are the name servers.
func newZoneSet(names, ns []string) zoneSet {
	var zs zoneSet
	for _, n := range names {
		z := &zone{name: n, mname: "ns.dns." + n, mbox: "hostmaster." + n}
		if n == "." {
			z.mname, z.mbox = "ns.dns.", "hostmaster."
		}
		if len(ns) > 0 {
			z.mname = ns[0]
		}
		zs.list = append(zs.list, z)
	}
	return zs
}

// match returns the index of the most specific zone that holds the
// lower-case FQDN name, or -1. It does what plugin.Zones.Matches does
// without its allocations (dns.IsSubDomain splits both names), since it runs
// for every query.
func (zs zoneSet) match(name string) int {
	best := -1
	for i, z := range zs.list {
		if inZone(name, z.name) && (best < 0 || len(z.name) > len(zs.list[best].name)) {
			best = i
		}
	}
	return best
}

// inZone reports whether the lower-case FQDN name is zone or lies below it.
// The suffix must start at a label boundary as dns.PrevLabel finds it, so
// an escaped dot ("a\.example.org.") is not one.
func inZone(name, zone string) bool {
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

// version is a zone as one snapshot holds it: which zone, at which serial.
type version struct {
	*zone
	serial uint32
}

// soa returns the zone's SOA record with TTL ttl and minimum minTTL.
func (v version) soa(ttl, minTTL uint32) *dns.SOA {
	return &dns.SOA{
		Hdr:     dns.RR_Header{Name: v.name, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: ttl},
		Ns:      v.mname,
		Mbox:    v.mbox,
		Serial:  v.serial,
		Refresh: soaRefresh,
		Retry:   soaRetry,
		Expire:  soaExpire,
		Minttl:  minTTL,
	}
}

// serialRule is the one rule for SOA serials: a zone's serial is the
// sequence number (modulo 2^32, RFC 1982) of the last change to the zone at
// or below the tracker's watermark. Every replica that has seen the same
// change log reports the same serial, whatever order it read the entries in;
// it does not move while the zone's entries do not, and waits (at most
// gapTimeout) for a transaction that holds an earlier number.
type serialRule struct {
	last    []uint64     // by zone index: the number the serial is taken from
	pending []zoneChange // changes above the watermark, by sequence number
}

type zoneChange struct {
	seq  uint64
	zone int
}

// serial returns zone zi's serial.
func (r *serialRule) serial(zi int) uint32 { return uint32(r.last[zi]) } //nolint:gosec // serials wrap (RFC 1982)

// add records a change to zone zi that was news in a poll. A change at or
// below the watermark filled a gap that had stopped holding the serial back:
// it raises the serial at once, to the watermark or by one.
func (r *serialRule) add(seq uint64, zi int, watermark uint64) {
	if seq <= watermark {
		r.last[zi] = max(r.last[zi]+1, watermark)
		return
	}
	i := sort.Search(len(r.pending), func(i int) bool { return r.pending[i].seq > seq })
	r.pending = slices.Insert(r.pending, i, zoneChange{seq, zi})
}

// advance moves every pending change at or below watermark into the serials.
func (r *serialRule) advance(watermark uint64) {
	n := 0
	for _, c := range r.pending {
		if c.seq > watermark {
			break
		}
		r.last[c.zone] = max(r.last[c.zone], c.seq)
		n++
	}
	r.pending = r.pending[n:]
}

// serialLess reports whether a comes before b in RFC 1982 serial arithmetic.
func serialLess(a, b uint32) bool { return a != b && int32(b-a) > 0 } //nolint:gosec // the RFC 1982 comparison
