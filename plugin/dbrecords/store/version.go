package store

import (
	"github.com/dbrecords/dbrecords/plugin/dbrecords/records"
	"github.com/miekg/dns"
)

// Version is a zone as one snapshot holds it: which zone, at which serial.
type Version struct {
	*records.Zone
	Serial uint32
}

// SOA returns the zone's SOA record with TTL ttl and minimum minTTL.
func (v Version) SOA(ttl, minTTL uint32) *dns.SOA {
	return &dns.SOA{
		Hdr:     dns.RR_Header{Name: v.Name, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: ttl},
		Ns:      v.MName,
		Mbox:    v.MBox,
		Serial:  v.Serial,
		Refresh: soaRefresh,
		Retry:   soaRetry,
		Expire:  soaExpire,
		Minttl:  minTTL,
	}
}

// SOA timers other than the serial and minimum, as RFC 1912 suggests.
const (
	soaRefresh = 7200
	soaRetry   = 1800
	soaExpire  = 1209600
)
