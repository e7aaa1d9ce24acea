// Package update carries out DNS UPDATE requests (RFC 2136) against the
// records table: it checks a request's form and its key's rights, then
// evaluates the prerequisites and makes the changes in one database
// transaction with locking reads, so that what it decides never rests on a
// replica's memory. Rows it writes obey the rules of rows written by SQL
// (package records): an update that would store a row the plugin skips, or
// one that another rule would drop, is refused as a whole.
package update

import (
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// Rule is one "allow KEY NAMES... TYPES..." line: what one TSIG key may change.
type Rule struct {
	Key   string   // lower-case FQDN of the key
	Names []string // lower-case FQDNs; "*.x." stands for every name below x.
	Types []uint16 // the types it may change; dns.TypeANY for every type
}

// Policy is the rules of an update block.
type Policy []Rule

// Knows reports whether some rule names key.
func (p Policy) Knows(key string) bool {
	return slices.ContainsFunc(p, func(r Rule) bool { return r.Key == key })
}

// Allows reports whether key may change the RRset of type t at name (a
// lower-case FQDN). For t == dns.TypeANY (every RRset of a name) the rule
// must allow every type.
func (p Policy) Allows(key, name string, t uint16) bool {
	for _, r := range p {
		if r.Key != key || !r.covers(name) {
			continue
		}
		if slices.Contains(r.Types, dns.TypeANY) || t != dns.TypeANY && slices.Contains(r.Types, t) {
			return true
		}
	}
	return false
}

// Covers reports whether some rule of key names name, for any type.
func (p Policy) Covers(key, name string) bool {
	return slices.ContainsFunc(p, func(r Rule) bool { return r.Key == key && r.covers(name) })
}

func (r Rule) covers(name string) bool {
	for _, n := range r.Names {
		if below, ok := strings.CutPrefix(n, "*."); ok {
			if strings.HasSuffix(name, "."+below) {
				return true
			}
		} else if n == name {
			return true
		}
	}
	return false
}
