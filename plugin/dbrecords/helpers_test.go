package dbrecords

import (
	"net/netip"
	"time"

	clog "github.com/coredns/coredns/plugin/pkg/log"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/records"
)

func init() { clog.Discard() }

// t0 is the tests' fixed clock.
var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// v4 is an A record of 192.0.2.last.
func v4(last int) records.Record {
	return records.Record{Addr: netip.AddrFrom4([4]byte{192, 0, 2, byte(last)}), TTL: 60} //nolint:gosec // wraps on purpose
}
