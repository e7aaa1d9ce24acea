package dbrecords

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/coredns/coredns/plugin"

	"github.com/go-sql-driver/mysql"
)

const (
	startupWait    = 5 * time.Second // how long OnStartup waits for the first load
	dialTimeout    = 3 * time.Second
	ioTimeout      = 30 * time.Second
	maxConnections = 2
)

// OnStartup attaches to the loader that reads this table for these zones,
// starting one if none runs (see handover.go). A new loader connects and
// loads the table: OnStartup waits up to startupWait for that first load so
// a healthy start serves data at once, then returns anyway, and Ready and
// SERVFAIL answers tell the truth until data arrives.
func (d *DBRecords) OnStartup() error {
	connector, err := mysql.NewConnector(d.dsn())
	if err != nil {
		return plugin.Error(pluginName, fmt.Errorf("cannot use the DSN: %s", redact(err.Error(), d.cfg.dsn.FormatDSN())))
	}
	label := strings.Join(d.cfg.zones, " ")
	s := settings{ttl: d.cfg.ttl, refresh: d.cfg.refresh, reconcile: d.cfg.reconcile}
	sh := loaders.attach(d.loaderKey(), label, s, func(sh *shared) { d.startLoader(sh, connector, s) })
	d.mu.Lock()
	d.sh, d.snap = sh, &sh.snap
	d.mu.Unlock()

	t := time.NewTimer(startupWait)
	defer t.Stop()
	select {
	case <-sh.loaded:
	case <-t.C:
		log.Warningf("Table %q not loaded after %.0f seconds; answering SERVFAIL for %s until it is", d.cfg.table, startupWait.Seconds(), label)
	}
	return nil
}

// startLoader starts a loader for sh that connects through connector.
func (d *DBRecords) startLoader(sh *shared, connector driver.Connector, s settings) {
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(maxConnections)
	db.SetMaxIdleConns(maxConnections)
	db.SetConnMaxIdleTime(time.Minute)
	syncErrors.WithLabelValues(sh.label).Add(0) // so alerts on its rate see the series from the start
	var once sync.Once
	l := &loader{
		src:        newMySQLSource(db, d.dsn(), d.cfg.table),
		zones:      d.zones,
		ttl:        s.ttl,
		refresh:    s.refresh,
		reconcile:  s.reconcile,
		set:        sh.set,
		table:      d.cfg.table,
		secret:     d.cfg.dsn.Passwd,
		label:      sh.label,
		errLog:     limiter{interval: errorLogInterval},
		invalidLog: limiter{interval: invalidLogInterval},
		publish: func(s *snapshot) {
			sh.snap.Store(s)
			once.Do(func() { close(sh.loaded) })
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.run(ctx)
	}()
	sh.stop = func() {
		cancel()
		<-done
		l.src.close()
	}
}

// OnShutdown ends this instance's use of its loader; the loader stops with
// its last instance. The data stays in place, so queries that arrive while
// CoreDNS drains (the health plugin's lameduck) are still answered.
func (d *DBRecords) OnShutdown() error {
	d.mu.Lock()
	sh := d.sh
	d.sh = nil
	d.mu.Unlock()
	if sh != nil {
		loaders.detach(sh)
	}
	return nil
}

// dsn returns the configured DSN with our timeouts filled in where it sets none.
func (d *DBRecords) dsn() *mysql.Config {
	c := d.cfg.dsn.Clone()
	if c.Timeout == 0 {
		c.Timeout = dialTimeout
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = ioTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = ioTimeout
	}
	// One round trip per query instead of prepare, execute and close.
	c.InterpolateParams = true
	c.Logger = driverLogger{}
	return c
}

// driverLogger sends the driver's own messages to our log at debug level.
type driverLogger struct{}

func (driverLogger) Print(v ...any) { log.Debug(v...) }
