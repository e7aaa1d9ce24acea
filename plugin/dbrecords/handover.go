package dbrecords

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coredns/caddy"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/dnssec"
	"github.com/dbrecords/dbrecords/plugin/dbrecords/store"
)

// A reload (the reload plugin, SIGUSR1) builds new plugin instances while the
// old ones still serve, and shuts the old ones down only once the new ones
// run. So that a reload never blinks, loaders live in a registry, the one
// piece of process-wide state: a new instance that reads the same table for
// the same zones attaches to the loader already running and takes over its
// data, its position in the change log and its serials, with no load at all;
// a changed ttl, refresh or reconcile is handed to the loader, which re-reads
// the table in the background if the ttl changed, once the new instance has
// started. A loader stops when its last instance shuts down. Attachments of
// an instance that never starts (a reload that fails) are undone, through
// the old instance's OnRestartFailed or at the next instance that starts,
// so a failed reload leaks nothing and changes nothing.
var loaders = &registry{byKey: map[string]*shared{}}

// registerHook puts onInstanceStartup in place. Caddy purges every event
// hook before a SIGUSR1 reload and expects setup to register them again
// (registering once, as upstream's reload plugin does, loses the hook after
// the first SIGUSR1); it panics on a name already registered, which here
// only means the hook is in place.
func registerHook() {
	defer func() { _ = recover() }()
	caddy.RegisterEventHook(pluginName+"-handover", onInstanceStartup)
}

// settings are the loader's properties that a reload may change in place.
type settings struct {
	ttl                uint32
	refresh, reconcile time.Duration
	journal            int
	keys               string   // what signs, as text: the keys and the NSEC TTL; "" when nothing does
	ns                 []string // lower-case FQDNs; with ttl and negativeTTL, what answers hold besides the table
	negativeTTL        uint32
	signers            []*dnssec.Signer // by zone index, for keys; compared through keys
	snapshotDir        string           // "" for no snapshot file
	snapshotEvery      time.Duration
}

// same reports whether s and o set the loader up alike.
func (s settings) same(o settings) bool {
	return s.ttl == o.ttl && s.refresh == o.refresh && s.reconcile == o.reconcile && s.journal == o.journal && s.keys == o.keys &&
		slices.Equal(s.ns, o.ns) && s.negativeTTL == o.negativeTTL && s.snapshotDir == o.snapshotDir && s.snapshotEvery == o.snapshotEvery
}

// shared is a running loader and the plugin instances that use it.
type shared struct {
	snap   atomic.Pointer[store.Snapshot] // what the instances answer from; nil until the first load
	loaded chan struct{}                  // closed at the first load
	change signal                         // broadcast at every new snapshot
	polls  *pollRequests                  // syncs asked for by updates
	label  string                         // the metrics label
	set    chan settings                  // to the loader; holds the latest only
	stop   func()                         // ends the loader and closes its pool

	users   int      // guarded by the registry
	current settings // as last sent; guarded by the registry
}

// send hands s to the loader, replacing any settings it has not taken yet.
// The registry's lock serializes callers.
func (sh *shared) send(s settings) {
	select {
	case <-sh.set:
	default:
	}
	sh.set <- s
}

// instanceToken stands for one caddy instance (a generation of the
// Corefile): its attachments take effect when it has started.
type instanceToken struct{ started bool } // guarded by the registry

type tokenKey struct{}

// pending is an attachment of an instance that has not started yet.
type pending struct {
	sh      *shared
	tok     *instanceToken
	s       settings
	started func(*shared) // run when tok starts; dropped when it never does
}

type registry struct {
	mu      sync.Mutex
	byKey   map[string]*shared
	pending []pending
}

// attach returns the loader for key: the one already running, or one that
// start starts with s (it must set sh.stop). For an instance that has not
// started yet (tok), the settings s are handed over, and started (if not
// nil) is run, only when it starts, so a reload that fails never changes the
// running configuration's loader and leaves nothing running.
func (r *registry) attach(key, label string, s settings, tok *instanceToken, start func(*shared), started func(*shared)) *shared {
	r.mu.Lock()
	sh, ok := r.byKey[key]
	if !ok {
		sh = &shared{loaded: make(chan struct{}), label: label, set: make(chan settings, 1), polls: newPollRequests(), current: s}
		r.byKey[key] = sh
		start(sh)
	}
	sh.users++
	now := tok == nil || tok.started
	if now {
		sh.apply(s)
	} else {
		r.pending = append(r.pending, pending{sh: sh, tok: tok, s: s, started: started})
	}
	r.mu.Unlock()
	if now && started != nil {
		started(sh)
	}
	return sh
}

// apply hands s to the loader if it differs from what it runs with.
func (sh *shared) apply(s settings) {
	if !sh.current.same(s) {
		sh.current = s
		sh.send(s)
	}
}

// started is called when an instance has started (caddy's
// InstanceStartupEvent): its attachments take effect, and those of
// instances that never started (a failed reload) are undone.
func (r *registry) started(tok *instanceToken) { r.settle(tok) }

// abort undoes the attachments of instances that have not started: a
// restart failed. Attachments of running instances are never touched.
func (r *registry) abort() { r.settle(nil) }

// settle ends every pending attachment: tok's take effect, the others are
// undone (and loaders left without users stopped).
func (r *registry) settle(tok *instanceToken) {
	r.mu.Lock()
	if tok != nil {
		tok.started = true
	}
	var stops, starts []func()
	for _, p := range r.pending {
		if p.tok == tok {
			p.sh.apply(p.s)
			if p.started != nil {
				started, sh := p.started, p.sh
				starts = append(starts, func() { started(sh) })
			}
			continue
		}
		p.sh.users--
		if stop := r.release(p.sh); stop != nil {
			stops = append(stops, stop)
		}
	}
	r.pending = nil
	r.mu.Unlock()
	for _, stop := range stops {
		stop()
	}
	for _, start := range starts {
		start()
	}
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

// onInstanceStartup is caddy's event hook: an instance has started.
func onInstanceStartup(ev caddy.EventName, info any) error {
	inst, ok := info.(*caddy.Instance)
	if ev != caddy.InstanceStartupEvent || !ok {
		return nil
	}
	inst.StorageMu.RLock()
	tok, _ := inst.Storage[tokenKey{}].(*instanceToken)
	inst.StorageMu.RUnlock()
	if tok != nil {
		loaders.started(tok)
	}
	return nil
}

// instanceOf returns the token of the instance c sets up.
func instanceOf(c *caddy.Controller) *instanceToken {
	tok, _ := c.Get(tokenKey{}).(*instanceToken)
	if tok == nil {
		tok = &instanceToken{}
		c.Set(tokenKey{}, tok)
	}
	return tok
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

// keysText is what signed entries depend on, the keys and the NSEC TTL, as
// text; "" when nothing is signed. A reload that changes it hands the new
// signers to the running loader, which signs everything again while the old
// signatures are served.
func (d *DBRecords) keysText() string {
	if len(d.cfg.keys) == 0 {
		return ""
	}
	key := strconv.FormatUint(uint64(d.cfg.negativeTTL), 10)
	for _, k := range d.cfg.keys {
		key += "\x00" + k.RR.String()
	}
	return key
}
