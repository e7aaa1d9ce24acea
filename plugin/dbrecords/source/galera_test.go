package source

import (
	"database/sql/driver"
	"strings"
	"testing"
)

// TestGaleraPeersNeedTLS: a Galera node the connect function refuses (no
// TLS, not listed) is not dialled, and the proof says why it cannot be made.
func TestGaleraPeersNeedTLS(t *testing.T) {
	s := NewMySQL(nil, func(string) driver.Connector { return nil }, "dns_records").(*mysqlSource)
	s.galera = true
	s.setNodes([]string{"192.0.2.7:3306", " 192.0.2.8:3306"})
	if len(s.nodes) != 0 || len(s.refused) != 2 {
		t.Fatalf("Expected no node dialled and two refused, got %v and %v", s.nodes, s.refused)
	}
	if _, err := s.peers(); !IsNoProof(err) || !strings.Contains(err.Error(), "192.0.2.7:3306 is not asked") || !strings.Contains(err.Error(), "galera_nodes") {
		t.Errorf("Expected no proof, naming the refused node and the way out, got %v", err)
	}
}
