package dbrecords

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// maxTTL is the largest TTL RFC 2181 section 8 allows.
const maxTTL = 1<<31 - 1

// invalidReason says why a row cannot be served. The zero value means valid.
type invalidReason int

const (
	rowValid invalidReason = iota
	badName
	outsideZones
	badType
	badAddress
	badTTL
	tooMany
	numReasons
)

var reasonText = [numReasons]string{
	rowValid:     "valid",
	badName:      "a name that is not a valid host name",
	outsideZones: "a name outside every served zone",
	badType:      "a type other than A or AAAA",
	badAddress:   "an address that does not parse or does not match its type",
	badTTL:       "a TTL above 2147483647",
	tooMany:      fmt.Sprintf("more than %d records for one name", maxRecords),
}

func (r invalidReason) String() string { return reasonText[r] }

// rawRow is one dns_records row as read from the database.
type rawRow struct {
	name, typ, content string
	ttl                int64
	ttlNull            bool
}

// servedRow is a valid row, ready for the store.
type servedRow struct {
	fqdn string
	zone int
	rec  record
}

// parseRow validates r against zones and fills in defaultTTL for a NULL ttl.
func parseRow(r rawRow, zones zoneSet, defaultTTL uint32) (servedRow, invalidReason) {
	key := nameKey(r.name)
	if !validName(key) {
		return servedRow{}, badName
	}
	fqdn := key + "."
	zi := zones.match(fqdn)
	if zi < 0 {
		return servedRow{}, outsideZones
	}
	var v6 bool
	switch strings.ToUpper(strings.TrimSpace(r.typ)) {
	case "A":
	case "AAAA":
		v6 = true
	default:
		return servedRow{}, badType
	}
	addr, err := netip.ParseAddr(strings.TrimSpace(r.content))
	if err != nil || addr.Zone() != "" || addr.Is4() == v6 {
		return servedRow{}, badAddress
	}
	ttl := defaultTTL
	if !r.ttlNull {
		if r.ttl < 0 || r.ttl > maxTTL {
			return servedRow{}, badTTL
		}
		ttl = uint32(r.ttl)
	}
	return servedRow{fqdn: fqdn, zone: zi, rec: record{addr: addr, ttl: ttl}}, rowValid
}

// Rules are the plugin's rules for table rows, for tools that must judge
// rows exactly as the plugin does (the admin command's check and export).
type Rules struct {
	zones zoneSet
	ttl   uint32
}

// NewRules returns the rules of a dbrecords block serving zones (FQDNs) with
// the ttl property ttl.
func NewRules(zones []string, ttl uint32) Rules {
	lower := make([]string, len(zones))
	for i, z := range zones {
		lower[i] = strings.ToLower(dns.Fqdn(z))
	}
	return Rules{zones: newZoneSet(lower, nil), ttl: ttl}
}

// Served is what the plugin serves for one name.
type Served struct{ recs []record }

// Valid reports whether the plugin serves the row, and why not.
func (r Rules) Valid(name, typ, content string, ttl int64, ttlNull bool) (fqdn string, why string) {
	sr, reason := parseRow(rawRow{name: name, typ: typ, content: content, ttl: ttl, ttlNull: ttlNull}, r.zones, r.ttl)
	if reason != rowValid {
		return "", reason.String()
	}
	return sr.fqdn, ""
}

// Add adds a row to served (by lower-case FQDN) as the plugin would, and
// reports whether the plugin serves it.
func (r Rules) Add(served map[string]*Served, name, typ, content string, ttl int64, ttlNull bool) bool {
	sr, reason := parseRow(rawRow{name: name, typ: typ, content: content, ttl: ttl, ttlNull: ttlNull}, r.zones, r.ttl)
	if reason != rowValid {
		return false
	}
	s := served[sr.fqdn]
	if s == nil {
		s = &Served{}
		served[sr.fqdn] = s
	}
	var ok bool
	s.recs, ok = addRecord(s.recs, sr.rec)
	return ok
}

// Addrs returns the sorted addresses served for type t (A or AAAA), as
// netip.Addr writes them.
func (s *Served) Addrs(t uint16) []string {
	var out []string
	for _, r := range s.recs {
		if r.addr.Is4() == (t == dns.TypeA) {
			out = append(out, r.addr.String())
		}
	}
	slices.Sort(out)
	return out
}

// TTL returns the TTL of the RRset of type t (0 when there is none).
func (s *Served) TTL(t uint16) uint32 {
	for _, r := range s.recs {
		if r.addr.Is4() == (t == dns.TypeA) {
			return r.ttl
		}
	}
	return 0
}
