package dbrecords

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A reload (the reload plugin, SIGUSR1) builds new plugin instances while the
// old ones still serve, and shuts the old ones down only once the new ones
// run. So that a reload never blinks, loaders live in a registry, the one
// piece of process-wide state: a new instance that reads the same table for
// the same zones attaches to the loader already running and takes over its
// data, its position in the change log and its serials, with no load at all;
// a changed ttl, refresh or reconcile is handed to the loader, which re-reads
// the table in the background if the ttl changed. A loader stops when its
// last instance shuts down. A reload that fails after instances attached
// (a later plugin failing to start) is undone through the old instances'
// OnRestartFailed, so it leaks nothing.
var loaders = &registry{byKey: map[string]*shared{}}

// settings are the loader's properties that a reload may change in place.
type settings struct {
	ttl                uint32
	refresh, reconcile time.Duration
}

// shared is a running loader and the plugin instances that use it.
type shared struct {
	snap   atomic.Pointer[snapshot] // what the instances answer from; nil until the first load
	loaded chan struct{}            // closed at the first load
	label  string                   // the metrics label
	set    chan settings            // to the loader; holds the latest only
	stop   func()                   // ends the loader and closes its pool

	users   int      // guarded by the registry
	current settings // as last sent; guarded by the registry
}

// send hands s to the loader, replacing any settings it has not taken yet.
func (sh *shared) send(s settings) {
	select {
	case <-sh.set:
	default:
	}
	sh.set <- s
}

// attachment is one instance's use of a loader, as made during a restart.
type attachment struct {
	sh   *shared
	gen  uint64
	prev settings // what the loader ran with before this attachment
}

type registry struct {
	mu     sync.Mutex
	byKey  map[string]*shared
	gen    uint64       // restarts begun
	recent []attachment // made during restart gen; undone if it fails
}

// attach returns the loader for key, running with s: the one already
// running, or one that start starts (it must set sh.stop).
func (r *registry) attach(key, label string, s settings, start func(*shared)) *shared {
	r.mu.Lock()
	defer r.mu.Unlock()
	sh, ok := r.byKey[key]
	if !ok {
		sh = &shared{loaded: make(chan struct{}), label: label, set: make(chan settings, 1), current: s}
		r.byKey[key] = sh
		start(sh)
	}
	r.recent = append(r.recent, attachment{sh: sh, gen: r.gen, prev: sh.current})
	if sh.current != s {
		sh.current = s
		sh.send(s)
	}
	sh.users++
	return sh
}

// detach ends one instance's use of sh, and the loader with the last one.
func (r *registry) detach(sh *shared) {
	r.mu.Lock()
	sh.users--
	last := r.release(sh)
	r.mu.Unlock()
	if last != nil {
		last()
	}
}

// release removes sh when it has no users and returns what stops it.
func (r *registry) release(sh *shared) func() {
	if sh.users > 0 {
		return nil
	}
	for k, s := range r.byKey {
		if s == sh {
			delete(r.byKey, k)
		}
	}
	for _, s := range r.byKey {
		if s.label == sh.label { // a successor reports under the same label
			return sh.stop
		}
	}
	return func() {
		sh.stop()
		deleteSeries(sh.label)
	}
}

// beginRestart is called when a restart begins: attachments from earlier
// restarts are final.
func (r *registry) beginRestart() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gen++
	r.recent = nil
}

// abortRestart undoes the attachments made during a restart that failed.
func (r *registry) abortRestart() {
	r.mu.Lock()
	var stops []func()
	for i := len(r.recent) - 1; i >= 0; i-- {
		a := r.recent[i]
		if a.gen != r.gen {
			continue
		}
		a.sh.users--
		if a.sh.current != a.prev {
			a.sh.current = a.prev
			a.sh.send(a.prev)
		}
		if stop := r.release(a.sh); stop != nil {
			stops = append(stops, stop)
		}
	}
	r.recent = nil
	r.mu.Unlock()
	for _, stop := range stops {
		stop()
	}
}

// loaderKey identifies what a loader reads: the DSN (or the dsn_file it
// comes from, whose content may rotate), TLS files, table and zones. It may
// hold the password, so it is a map key and nothing else.
func (d *DBRecords) loaderKey() string {
	src := "dsn:" + d.cfg.dsn.FormatDSN()
	if d.cfg.dsnFile != "" {
		src = "file:" + d.cfg.dsnFile
	}
	return src + "\x00" + strings.Join(d.cfg.tlsArgs, " ") + "\x00" + d.cfg.table + "\x00" + strings.Join(d.cfg.zones, " ")
}
