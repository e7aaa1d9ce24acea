// Package dnskey writes DNSSEC keys the way dnssec-keygen names them, for
// the tests and the bench.
package dnskey

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/miekg/dns"
)

// Write generates a key of algorithm alg with flags (257 for a KSK or CSK,
// 256 for a ZSK) for zone, writes Kzone.+alg+tag.key and .private into dir,
// and returns the base name and the public key.
func Write(dir, zone string, alg uint8, flags uint16) (string, *dns.DNSKEY, error) {
	k := &dns.DNSKEY{Hdr: dns.RR_Header{Name: zone, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 3600}, Flags: flags, Protocol: 3, Algorithm: alg}
	bits := 256
	switch alg {
	case dns.ECDSAP384SHA384:
		bits = 384
	case dns.RSASHA256, dns.RSASHA512:
		bits = 2048
	}
	priv, err := k.Generate(bits)
	if err != nil {
		return "", nil, err
	}
	base := filepath.Join(dir, fmt.Sprintf("K%s+%03d+%05d", zone, alg, k.KeyTag()))
	if err := os.WriteFile(base+".key", []byte(k.String()+"\n"), 0o600); err != nil {
		return "", nil, err
	}
	return base, k, os.WriteFile(base+".private", []byte(k.PrivateKeyString(priv)), 0o600)
}

// Anchor returns a trust-anchors clause for delv with k.
func Anchor(k *dns.DNSKEY) string {
	return fmt.Sprintf("trust-anchors {\n\t%s static-key %d %d %d %q;\n};\n", k.Hdr.Name, k.Flags, k.Protocol, k.Algorithm, k.PublicKey)
}
