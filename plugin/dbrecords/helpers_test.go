package dbrecords

import (
	"net/netip"
	"testing"
	"time"

	clog "github.com/coredns/coredns/plugin/pkg/log"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/dnssec"
	"github.com/dbrecords/dbrecords/plugin/dbrecords/records"
	"github.com/dbrecords/dbrecords/test/dnskey"
)

func init() { clog.Discard() }

// t0 is the tests' fixed clock.
var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// v4 is an A record of 192.0.2.last.
func v4(last int) records.Record {
	return records.AddrRecord(netip.AddrFrom4([4]byte{192, 0, 2, byte(last)}), 60) //nolint:gosec // wraps on purpose
}

// testKey writes a key of alg with flags for example.org into dir, as
// dnssec-keygen would, and reads it back.
func testKey(tb testing.TB, dir string, alg uint8, flags uint16) *dnssec.Key {
	tb.Helper()
	base, _, err := dnskey.Write(dir, "example.org.", alg, flags)
	if err != nil {
		tb.Fatal(err)
	}
	k, err := dnssec.ReadKey(base)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}
