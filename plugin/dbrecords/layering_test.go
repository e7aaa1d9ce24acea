package dbrecords

import (
	"go/build"
	"strings"
	"testing"
)

// TestLayering holds the data path's package lines (docs/architecture.md):
// rows know nothing of the store, the store knows nothing of SQL or CoreDNS,
// and the source knows nothing of snapshots.
func TestLayering(t *testing.T) {
	const mod = "github.com/dbrecords/dbrecords/plugin/dbrecords"
	forbidden := map[string][]string{
		"records": {mod, "database/sql", "github.com/coredns/"},
		"store":   {mod + "/source", mod + "/dnssec", "database/sql", "github.com/coredns/"},
		"source":  {mod + "/store", mod + "/dnssec", "github.com/coredns/", "github.com/miekg/dns"},
		"dnssec":  {mod + "/source", "database/sql"},
		// Updates are judged against the table, never a replica's memory.
		"update": {mod + "/store", mod + "/source", mod + "/dnssec", "github.com/coredns/"},
	}
	for pkg, bad := range forbidden {
		p, err := build.Default.Import(mod+"/"+pkg, ".", 0)
		if err != nil {
			t.Fatalf("Importing %s: %v", pkg, err)
		}
		for _, imp := range p.Imports {
			for _, b := range bad {
				if imp == b || strings.HasPrefix(imp, b+"/") || strings.HasSuffix(b, "/") && strings.HasPrefix(imp, b) {
					t.Errorf("Expected package %s not to import %s", pkg, imp)
				}
			}
		}
	}
}
