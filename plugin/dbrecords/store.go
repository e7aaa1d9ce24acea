package dbrecords

import (
	"net"
	"strings"

	"github.com/miekg/dns"
)

// record is one address served for a name. A records keep the IPv4 address in
// the first four bytes of ip.
type record struct {
	ip  [16]byte
	ttl uint32
	v6  bool
}

// entry is one name in a snapshot. An entry without records is an empty
// non-terminal: it exists because below > 0 names under it have records.
type entry struct {
	name  string // lower-case FQDN
	hash  uint64
	recs  []record
	below int32
}

func (e *entry) has(qtype uint16) bool {
	for i := range e.recs {
		if e.recs[i].v6 == (qtype == dns.TypeAAAA) {
			return true
		}
	}
	return false
}

// rrs returns new RRs of qtype for owner; nothing it returns is shared with the snapshot.
func (e *entry) rrs(owner string, qtype uint16) []dns.RR {
	v6 := qtype == dns.TypeAAAA
	n := 0
	for i := range e.recs {
		if e.recs[i].v6 == v6 {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	out := make([]dns.RR, 0, n)
	for i := range e.recs {
		r := &e.recs[i]
		if r.v6 != v6 {
			continue
		}
		hdr := dns.RR_Header{Name: owner, Rrtype: qtype, Class: dns.ClassINET, Ttl: r.ttl}
		if v6 {
			ip := make(net.IP, net.IPv6len)
			copy(ip, r.ip[:])
			out = append(out, &dns.AAAA{Hdr: hdr, AAAA: ip})
			continue
		}
		ip := make(net.IP, net.IPv4len)
		copy(ip, r.ip[:4])
		out = append(out, &dns.A{Hdr: hdr, A: ip})
	}
	return out
}

// pageBits sets the buckets per page: a change copies its page's 64 bucket
// headers and its bucket, never the whole index.
const (
	pageBits = 6
	pageSize = 1 << pageBits
)

// page is a fixed run of hash buckets.
type page [pageSize][]entry

// snapshot is an immutable view of all names. Readers load it with one atomic
// read and never see it change; the loader publishes a new one per sync and
// shares every unchanged page and bucket with the previous one.
type snapshot struct {
	pages     []*page
	mask      uint64   // bucket index mask
	names     int      // entries, empty non-terminals included
	records   int      // records being served
	wildcards int      // entries whose first label is '*'
	serials   []uint32 // SOA serial per zone, indexed like the plugin's zones
}

func newSnapshot(sizeHint, zones int) *snapshot {
	n := 256
	for n < sizeHint/2 && n < 1<<24 {
		n <<= 1
	}
	pages := make([]*page, n/pageSize)
	for i := range pages {
		pages[i] = new(page)
	}
	return &snapshot{pages: pages, mask: uint64(n - 1), serials: make([]uint32, zones)}
}

func (s *snapshot) bucket(bi uint64) []entry { return s.pages[bi>>pageBits][bi&(pageSize-1)] }

func (s *snapshot) buckets() int { return len(s.pages) * pageSize }

// get returns the entry for the lower-case FQDN name, or nil.
func (s *snapshot) get(name string) *entry {
	h := mix(hashName(fnvOffset, name))
	b := s.bucket(h & s.mask)
	for i := range b {
		if b[i].hash == h && b[i].name == name {
			return &b[i]
		}
	}
	return nil
}

// getWildcard returns the entry for "*." + name without building that string.
func (s *snapshot) getWildcard(name string) *entry {
	h := mix(hashName(hashName(fnvOffset, "*."), name))
	b := s.bucket(h & s.mask)
	for i := range b {
		e := &b[i]
		if e.hash == h && len(e.name) == len(name)+2 && strings.HasPrefix(e.name, "*.") && e.name[2:] == name {
			return e
		}
	}
	return nil
}

// find returns the entry that answers qname, a lower-case FQDN strictly below
// zone: the name itself when it exists (empty non-terminals included), else
// the wildcard at its closest encloser (RFC 4592 section 3.3.1). A nil entry
// means the name does not exist.
func (s *snapshot) find(qname, zone string) (e *entry, wildcard bool) {
	if e := s.get(qname); e != nil {
		return e, false
	}
	if s.wildcards == 0 {
		return nil, false
	}
	ce := parent(qname)
	for ce != zone && len(ce) > len(zone) {
		if s.get(ce) != nil {
			break
		}
		ce = parent(ce)
	}
	if e := s.getWildcard(ce); e != nil {
		return e, true
	}
	return nil, false
}
