package test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *rsa.PrivateKey
	pem  string // path of its certificate
}

func newTestCA(t *testing.T, dir, name string) *testCA {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &testCA{cert: cert, key: key, pem: filepath.Join(dir, name+".pem")}
	writePEM(t, ca.pem, "CERTIFICATE", der)
	return ca
}

// issue writes a server certificate for 127.0.0.1 and its key, and returns their paths.
func (ca *testCA) issue(t *testing.T, dir string) (certPath, keyPath string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	writePEM(t, certPath, "CERTIFICATE", der)
	writePEM(t, keyPath, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key))
	return certPath, keyPath
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestTLSToMySQL: against a MariaDB that requires TLS, `tls CACERT` verifies
// the server and serves; a wrong CA is an error the replica reports, never
// a fallback to plain text; and without tls the server refuses.
func TestTLSToMySQL(t *testing.T) {
	dir := t.TempDir()
	ca, wrong := newTestCA(t, dir, "ca"), newTestCA(t, dir, "other-ca")
	cert, key := ca.issue(t, dir)
	m := newPrivateMariaDB(t, "--ssl-ca="+ca.pem, "--ssl-cert="+cert, "--ssl-key="+key, "--require-secure-transport=ON")
	t.Setenv("MYSQL_DSN", m.socketDSN(""))
	db, dsn := newDB(t)
	insertRows(t, db, [][4]any{{"www.example.org", "A", "192.0.2.1", nil}})
	tcp := strings.Replace(dsn, "unix("+filepath.Join(m.dir, "sock")+")", "tcp(127.0.0.1:"+strconv.Itoa(m.port)+")", 1)

	s := start(t, tcp, "tls "+ca.pem)
	if got := answerA(t, s, "www.example.org."); got != "192.0.2.1" {
		t.Errorf("Expected the row over TLS, got %s", got)
	}

	for _, tc := range []struct {
		name, extra string
		want        []string // any of these in the log
	}{
		{"wrong CA", "tls " + wrong.pem, []string{"certificate signed by unknown authority"}},
		{"no tls", "", []string{"secure transport", "Access denied"}}, // MySQL's words, MariaDB's
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startCorefile(t, serverBlock(tcp, tc.extra))
			waitFor(t, 15*time.Second, fmt.Sprintf("one of %q in the log", tc.want), func() bool {
				return slices.ContainsFunc(tc.want, func(w string) bool { return strings.Contains(s.out.String(), w) })
			})
			if got := s.readyStatus(); got == http.StatusOK {
				t.Errorf("Expected not ready, got %d", got)
			}
		})
	}
}

// TestDSNFileRotation: the DSN in dsn_file moves to another user and the old
// one is dropped and its connections killed; the replica keeps serving,
// follows changes with the new user, and logs neither password.
func TestDSNFileRotation(t *testing.T) {
	db, dsn := newDB(t)
	insertRows(t, db, [][4]any{{"www.example.org", "A", "192.0.2.1", nil}})
	var name string
	if err := db.QueryRow("SELECT DATABASE()").Scan(&name); err != nil {
		t.Fatal(err)
	}
	users := map[string]string{}
	for _, u := range []string{"a", "b"} {
		user := fmt.Sprintf("dbr_rot_%s_%d", u, os.Getpid())
		pass := "Pw-" + u + "-" + strconv.Itoa(os.Getpid())
		users[u] = user
		exec1(t, db, "CREATE USER IF NOT EXISTS '"+user+"'@'%' IDENTIFIED BY '"+pass+"'")
		exec1(t, db, "GRANT SELECT ON `"+name+"`.* TO '"+user+"'@'%'")
		exec1(t, db, "GRANT PROCESS ON *.* TO '"+user+"'@'%'")
		t.Cleanup(func() { db.Exec("DROP USER IF EXISTS '" + user + "'@'%'") })
		users[u+"dsn"] = strings.Replace(dsn, "root@", user+":"+pass+"@", 1)
	}
	path := filepath.Join(t.TempDir(), "dsn")
	if err := os.WriteFile(path, []byte(users["adsn"]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startCorefile(t, strings.Replace(serverBlock("unused"), "dsn unused", "dsn_file "+path, 1))
	s.waitReady(t)

	if err := os.WriteFile(path, []byte(users["bdsn"]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	exec1(t, db, "DROP USER '"+users["a"]+"'@'%'")
	killConnections(t, db, "USER = ?", users["a"])
	servedA(t, s, "192.0.2.1", 5) // the data in memory stays
	exec1(t, db, "UPDATE dns_records SET content = '192.0.2.2'")
	waitFor(t, 10*time.Second, "the change read with the rotated user", func() bool { return answerA(t, s, "www.example.org.") == "192.0.2.2" })
	var asB int
	if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = ?", users["b"]).Scan(&asB); err != nil || asB == 0 {
		t.Errorf("Expected the replica to be connected as %s, got %d connections (%v)", users["b"], asB, err)
	}
	out := s.out.String()
	if !strings.Contains(out, "changed; new connections use it") {
		t.Errorf("Expected the rotation to be logged, got:\n%s", out)
	}
	if strings.Contains(out, "Pw-a-") || strings.Contains(out, "Pw-b-") {
		t.Errorf("Expected no password in the output, got:\n%s", out)
	}
}
