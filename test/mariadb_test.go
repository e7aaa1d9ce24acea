package test

import (
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// privateMariaDB runs a MariaDB server of its own, so that a test can stop and
// start the process, or build a topology of several servers, without
// disturbing anyone else's server. Its log is mariadbd.log in dir.
type privateMariaDB struct {
	dir  string
	port int
	args []string // extra mariadbd options
	cmd  *exec.Cmd
}

// installMariaDB creates the data directory of a private server; start runs it.
func installMariaDB(t *testing.T) *privateMariaDB {
	t.Helper()
	for _, bin := range []string{"mariadb-install-db", "mariadbd"} {
		if _, err := exec.LookPath(bin); err != nil {
			if _, err := os.Stat("/usr/sbin/" + bin); err != nil {
				t.Fatalf("Expected %s (Debian package mariadb-server, which `make test` installs), got %v", bin, err)
			}
		}
	}
	m := &privateMariaDB{dir: t.TempDir(), port: freePort(t)}
	install := exec.Command("mariadb-install-db", "--no-defaults", "--user=root", "--datadir="+m.data(),
		"--auth-root-authentication-method=normal", "--skip-test-db")
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("Expected mariadb-install-db to succeed, got %v:\n%s", err, out)
	}
	t.Cleanup(func() {
		m.stop(t)
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(m.dir, "mariadbd.log")); err == nil {
				t.Logf("mariadbd on port %d:\n%s", m.port, b)
			}
		}
	})
	return m
}

// newPrivateMariaDB installs and starts a private server with extra options.
func newPrivateMariaDB(t *testing.T, args ...string) *privateMariaDB {
	t.Helper()
	m := installMariaDB(t)
	m.args = args
	m.start(t)
	return m
}

func (m *privateMariaDB) data() string { return filepath.Join(m.dir, "data") }

// socketDSN reaches the server over its Unix socket, which needs no TLS.
func (m *privateMariaDB) socketDSN(db string) string {
	return fmt.Sprintf("root@unix(%s)/%s", filepath.Join(m.dir, "sock"), db)
}

func (m *privateMariaDB) dsn(db string) string {
	return fmt.Sprintf("root@tcp(127.0.0.1:%d)/%s", m.port, db)
}

func (m *privateMariaDB) start(t *testing.T) {
	t.Helper()
	args := append([]string{"--no-defaults", "--user=root", "--datadir=" + m.data(),
		"--bind-address=127.0.0.1", fmt.Sprintf("--port=%d", m.port), "--socket=" + filepath.Join(m.dir, "sock"),
		"--pid-file=" + filepath.Join(m.dir, "pid"), "--innodb-buffer-pool-size=32M"}, m.args...)
	m.cmd = exec.Command("/usr/sbin/mariadbd", args...)
	logFile, err := os.OpenFile(filepath.Join(m.dir, "mariadbd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	m.cmd.Stdout, m.cmd.Stderr = logFile, logFile
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 90*time.Second, "the private MariaDB on port "+fmt.Sprint(m.port)+" to answer", func() bool {
		db, err := sql.Open("mysql", m.socketDSN("")) // TCP may require TLS
		if err != nil {
			return false
		}
		defer db.Close()
		return db.Ping() == nil
	})
	waitFor(t, 30*time.Second, "the private MariaDB to listen on port "+fmt.Sprint(m.port), func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", m.port))
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

func (m *privateMariaDB) stop(t *testing.T) {
	t.Helper()
	if m.cmd == nil || m.cmd.Process == nil {
		return
	}
	m.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { m.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		m.cmd.Process.Kill()
		<-done
	}
	m.cmd = nil
}
