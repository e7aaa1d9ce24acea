package dbrecords

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/coredns/coredns/plugin"

	"github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus"
)

const (
	startupWait    = 5 * time.Second // how long OnStartup waits for the first load
	dialTimeout    = 3 * time.Second
	ioTimeout      = 30 * time.Second
	maxConnections = 2
)

// OnStartup connects to the database and starts the loader. It waits up to
// startupWait for the first load so a healthy start serves data at once, then
// returns anyway: Ready and SERVFAIL answers tell the truth until data arrives.
func (d *DBRecords) OnStartup() error {
	connector, err := mysql.NewConnector(d.dsn())
	if err != nil {
		return plugin.Error(pluginName, fmt.Errorf("cannot use the DSN: %s", redact(err.Error(), d.cfg.dsn.FormatDSN())))
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(maxConnections)
	db.SetMaxIdleConns(maxConnections)
	db.SetConnMaxIdleTime(time.Minute)

	zones := strings.Join(d.cfg.zones, " ")
	syncErrors.WithLabelValues(zones).Add(0) // so alerts on its rate see the series from the start
	var once sync.Once
	l := &loader{
		src:        newMySQLSource(db, d.dsn(), d.cfg.table),
		zones:      d.zones,
		ttl:        d.cfg.ttl,
		refresh:    d.cfg.refresh,
		reconcile:  d.cfg.reconcile,
		table:      d.cfg.table,
		label:      zones,
		errLog:     limiter{interval: errorLogInterval},
		invalidLog: limiter{interval: invalidLogInterval},
		publish: func(s *snapshot) {
			d.snap.Store(s)
			once.Do(func() { close(d.loaded) })
		},
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.run(ctx)
	}()
	d.mu.Lock()
	d.stop = func() {
		cancel()
		<-done
		l.src.close()
		for _, g := range []*prometheus.GaugeVec{recordsGauge, invalidRowsGauge, gapNumbers, oldestGapAge} {
			g.DeleteLabelValues(zones)
		}
	}
	d.mu.Unlock()

	t := time.NewTimer(startupWait)
	defer t.Stop()
	select {
	case <-d.loaded:
	case <-t.C:
		log.Warningf("Table %q not loaded after %.0f seconds; answering SERVFAIL for %s until it is", d.cfg.table, startupWait.Seconds(), zones)
	}
	return nil
}

// OnShutdown stops the loader and closes the connection pool.
func (d *DBRecords) OnShutdown() error {
	d.mu.Lock()
	stop := d.stop
	d.stop = nil
	d.mu.Unlock()
	if stop != nil {
		stop()
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
