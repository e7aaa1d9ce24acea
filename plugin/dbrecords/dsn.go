package dbrecords

import (
	"context"
	"crypto/tls"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
)

const (
	dialTimeout = 3 * time.Second
	ioTimeout   = 30 * time.Second
)

// parseDSN parses a go-sql-driver/mysql DSN and checks what we need of it.
// Its errors never repeat the DSN's credentials.
func parseDSN(dsn string) (*mysql.Config, error) {
	parsed, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("cannot parse the DSN (want USER:PASS@tcp(HOST:PORT)/DB): %s", redact(err.Error(), dsn))
	}
	if parsed.DBName == "" {
		return nil, errors.New("the DSN names no database (want USER:PASS@tcp(HOST:PORT)/DB)")
	}
	switch parsed.Net {
	case "tcp", "tcp4", "tcp6", "unix":
	default: // a DSN without '@' puts the credentials here; never repeat it
		return nil, errors.New("the DSN's protocol is not tcp or unix (want USER:PASS@tcp(HOST:PORT)/DB)")
	}
	return parsed, nil
}

// readDSNFile returns the DSN in path, surrounding white space removed.
func readDSNFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("cannot read %q: %w", path, err)
	}
	dsn := strings.TrimSpace(string(b))
	if dsn == "" {
		return "", fmt.Errorf("%q is empty", path)
	}
	return dsn, nil
}

// redact removes from msg every part of dsn that may hold credentials, as
// the driver splits a DSN: before the last '/' comes what may hold them; in
// it, what comes before the last '@' (or, without one, before the
// protocol's '('); and the password alone.
func redact(msg, dsn string) string {
	creds := dsn
	if i := strings.LastIndex(creds, "/"); i >= 0 {
		creds = creds[:i]
	}
	if i := strings.LastIndex(creds, "@"); i >= 0 {
		creds = creds[:i]
	} else if i := strings.Index(creds, "("); i >= 0 {
		creds = creds[:i]
	}
	secrets := []string{creds}
	if _, pass, ok := strings.Cut(creds, ":"); ok {
		secrets = append(secrets, pass)
	}
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	return msg
}

// withDefaults returns c with our timeouts where it sets none, and t (the
// tls property) for TLS.
func withDefaults(c *mysql.Config, t *tls.Config) *mysql.Config {
	c = c.Clone()
	if c.Timeout == 0 {
		c.Timeout = dialTimeout
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = ioTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = ioTimeout
	}
	if t != nil {
		// Verified against the configured CA; the driver checks the server's
		// name against the DSN's host. Never a fallback to plain text, even
		// if the DSN asks for one.
		c.TLS = t.Clone()
		c.AllowFallbackToPlaintext = false
	}
	// One round trip per query instead of prepare, execute and close.
	c.InterpolateParams = true
	c.Logger = driverLogger{}
	return c
}

// driverLogger sends the driver's own messages to our log at debug level.
type driverLogger struct{}

// Print implements mysql.Logger.
func (driverLogger) Print(v ...any) { log.Debug(v...) }

// dsnSource gives every new connection the DSN in force: the configured one,
// or the content of dsn_file as it is at that moment, so a rotated
// Kubernetes Secret is used without a restart. Content that does not parse
// is reported and the last good DSN stays in use. It remembers every
// password it has seen, to keep them out of log lines.
type dsnSource struct {
	file string
	tls  *tls.Config

	mu      sync.Mutex
	raw     string        // the file's content as last read
	cfg     *mysql.Config // the DSN in force, defaults applied
	secrets []string
	errLog  limiter
}

func newDSNSource(cfg *config) *dsnSource { return dsnSourceFor(cfg.dsn, cfg.dsnFile, cfg.tls) }

// dsnSourceFor returns a dsnSource for dsn, read again from file ("" for
// none) at every new connection.
func dsnSourceFor(dsn *mysql.Config, file string, t *tls.Config) *dsnSource {
	s := &dsnSource{file: file, tls: t, cfg: withDefaults(dsn, t), errLog: limiter{interval: errorLogInterval}}
	s.note(dsn.Passwd)
	return s
}

func (s *dsnSource) note(pass string) {
	if pass != "" {
		s.secrets = append(s.secrets, pass)
	}
}

// current returns the DSN in force, reading dsn_file again first.
func (s *dsnSource) current() *mysql.Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.file == "" {
		return s.cfg
	}
	raw, err := readDSNFile(s.file)
	if err == nil && raw != s.raw {
		var parsed *mysql.Config
		if parsed, err = parseDSN(raw); err == nil {
			if s.raw != "" {
				log.Infof("The DSN in %q changed; new connections use it", s.file)
			}
			s.raw, s.cfg = raw, withDefaults(parsed, s.tls)
			s.note(parsed.Passwd)
		} else {
			s.raw = raw // reported once per content
			err = fmt.Errorf("%w; the previous DSN stays in use", err)
		}
	}
	if err != nil && s.errLog.allow(time.Now()) {
		log.Errorf("Property dsn_file: %v", err)
	}
	return s.cfg
}

// scrub removes every password seen from msg.
func (s *dsnSource) scrub(msg string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.secrets {
		msg = strings.ReplaceAll(msg, p, "[redacted]")
	}
	return msg
}

// connector returns a driver.Connector that dials addr ("" for the DSN's
// own address) with the DSN in force at each new connection.
func (s *dsnSource) connector(addr string) driver.Connector {
	return &dsnConnector{s: s, addr: addr}
}

type dsnConnector struct {
	s    *dsnSource
	addr string
}

// Connect implements driver.Connector with the DSN in force.
func (c *dsnConnector) Connect(ctx context.Context) (driver.Conn, error) {
	cfg := c.s.current().Clone()
	if c.addr != "" {
		cfg.Net, cfg.Addr = "tcp", c.addr
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	return conn.Connect(ctx)
}

// Driver implements driver.Connector.
func (c *dsnConnector) Driver() driver.Driver { return mysql.MySQLDriver{} }
