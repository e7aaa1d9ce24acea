package dbrecords

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/source"
	"github.com/dbrecords/dbrecords/plugin/dbrecords/store"
)

const (
	startupWait = 5 * time.Second // how long OnStartup waits for the first load
)

// OnStartup attaches to the loader that reads this table for these zones,
// starting one if none runs (see handover.go). A new loader connects and
// loads the table: OnStartup waits up to startupWait for that first load so
// a healthy start serves data at once, then returns anyway, and Ready and
// SERVFAIL answers tell the truth until data arrives.
func (d *DBRecords) OnStartup() error {
	dsns := newDSNSource(d.cfg)
	label := strings.Join(d.cfg.zones, " ")
	s := settings{ttl: d.cfg.ttl, refresh: d.cfg.refresh, reconcile: d.cfg.reconcile, journal: d.cfg.journal, keys: d.keysText(), signers: d.signers,
		ns: d.cfg.ns, negativeTTL: d.cfg.negativeTTL, snapshotDir: d.cfg.snapshotDir, snapshotEvery: d.cfg.snapshotEvery}
	sh := loaders.attach(d.loaderKey(), label, s, d.token, func(sh *shared) { d.startLoader(sh, dsns, s) }, d.startNotifier)
	d.mu.Lock()
	d.sh = sh
	d.mu.Unlock()
	d.data.Store(&sh.snap)

	t := time.NewTimer(startupWait)
	defer t.Stop()
	select {
	case <-sh.loaded:
	case <-t.C:
		log.Warningf("Table %q not loaded after %.0f seconds; answering SERVFAIL for %s until it is", d.cfg.table, startupWait.Seconds(), label)
	}
	return nil
}

// startNotifier sends NOTIFY for sh's changes through the transfer plugin,
// if the server block has one, until OnShutdown. It runs once this instance
// has started: a reload that fails starts none.
func (d *DBRecords) startNotifier(sh *shared) {
	if d.xfer == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &notifier{xfer: d.xfer, zones: d.cfg.zones, snap: sh.snap.Load, change: &sh.change}
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.run(ctx)
	}()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.down { // shut down before it started
		cancel()
		<-done
		return
	}
	d.stopNotify = func() { cancel(); <-done }
}

// startLoader starts a loader for sh that connects with the DSNs of dsns.
func (d *DBRecords) startLoader(sh *shared, dsns *dsnSource, s settings) {
	db := sql.OpenDB(dsns.connector(""))
	db.SetMaxOpenConns(source.MaxConnections)
	db.SetMaxIdleConns(source.MaxConnections)
	db.SetConnMaxIdleTime(time.Minute)
	db.SetConnMaxLifetime(source.ConnMaxLifetime)
	// Counters that alerts and dashboards take the rate of exist from the start.
	syncErrors.WithLabelValues(sh.label).Add(0)
	changesApplied.WithLabelValues(sh.label).Add(0)
	gapsExpired.WithLabelValues(sh.label).Add(0)
	var once sync.Once
	// The other Galera nodes' addresses come from the cluster: they are
	// dialled over TLS, or when the Corefile lists them.
	connect := func(addr string) driver.Connector {
		if d.cfg.tls == nil && !slices.Contains(d.cfg.galeraNodes, addr) {
			return nil
		}
		return dsns.connector(addr)
	}
	l := &loader{
		src:         source.NewMySQL(db, connect, d.cfg.table),
		zones:       d.zones,
		ttl:         s.ttl,
		refresh:     s.refresh,
		reconcile:   s.reconcile,
		journal:     s.journal,
		signers:     s.signers,
		keys:        s.keys,
		ns:          s.ns,
		negativeTTL: s.negativeTTL,
		set:         sh.set,
		polls:       sh.polls,
		snapDir:     s.snapshotDir,
		source:      d.sourceName(),
		snapEvery:   s.snapshotEvery,
		table:       d.cfg.table,
		scrub:       dsns.scrub,
		label:       sh.label,
		errLog:      limiter{interval: errorLogInterval},
		invalidLog:  limiter{interval: invalidLogInterval},
		publish: func(s *store.Snapshot) {
			sh.snap.Store(s)
			once.Do(func() { close(sh.loaded) })
			sh.change.broadcast()
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
		l.src.Close()
	}
}

// sourceName names the database for snapshot files, without credentials:
// the dsn_file, or the DSN's address and database.
func (d *DBRecords) sourceName() string {
	if d.cfg.dsnFile != "" {
		return "file:" + d.cfg.dsnFile
	}
	return d.cfg.dsn.Net + ":" + d.cfg.dsn.Addr + "/" + d.cfg.dsn.DBName
}

// OnShutdown ends this instance's use of its loader; the loader stops with
// its last instance. The data stays in place, so queries that arrive while
// CoreDNS drains (the health plugin's lameduck) are still answered.
func (d *DBRecords) OnShutdown() error {
	d.mu.Lock()
	sh, stopNotify, up := d.sh, d.stopNotify, d.up
	d.sh, d.stopNotify, d.down, d.up = nil, nil, true, nil
	d.mu.Unlock()
	up.close()
	if stopNotify != nil {
		stopNotify()
	}
	if sh != nil {
		loaders.detach(sh)
	}
	return nil
}
