package dbrecords

import (
	"fmt"
	"net/netip"
	"strings"
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
