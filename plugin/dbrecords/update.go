package dbrecords

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/coredns/coredns/plugin/tsig"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"
	"golang.org/x/time/rate"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/update"
)

// An update is answered within about 3 s, as clients wait (nsupdate sends
// again after 3 s over UDP): its transaction, retries included, gets 2 s,
// and the reply waits up to 1 s more for this replica to serve it.
const (
	updateTimeout = 2 * time.Second
	appliedWait   = time.Second
)

// updater carries out the DNS UPDATE requests of one plugin instance
// through the update block's writer account.
type updater struct {
	w          *update.Writer
	dsns       *dsnSource
	policy     update.Policy
	maxRecords int
	limits     map[string]*rate.Limiter // by key: every key a rule names
	refusedLog *rate.Sometimes          // for requests refused before they count against a key's rate
}

// newUpdater opens the writer pool of cfg's update block; it connects
// when the first update arrives.
func (d *DBRecords) newUpdater() *updater {
	u := d.cfg.update
	dsns := dsnSourceFor(u.dsn, u.dsnFile, d.cfg.tls)
	db := sql.OpenDB(dsns.connector(""))
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(2)
	db.SetConnMaxIdleTime(time.Minute)
	up := &updater{
		w:          &update.Writer{DB: db, Table: d.cfg.table, Zones: d.zones, TTL: d.cfg.ttl, NS: d.cfg.ns},
		dsns:       dsns,
		policy:     u.policy,
		maxRecords: u.maxRecords,
		limits:     map[string]*rate.Limiter{},
		refusedLog: &rate.Sometimes{Interval: errorLogInterval},
	}
	for _, r := range u.policy {
		up.limits[r.Key] = rate.NewLimiter(rate.Limit(u.rate), u.rate)
	}
	return up
}

// serveUpdate answers an UPDATE for zone zi (RFC 2136 section 3): refused
// unless signed with a key an allow rule names and within its rights;
// otherwise applied in one transaction, and answered once committed and,
// when this replica manages within appliedWait, served.
func (d *DBRecords) serveUpdate(ctx context.Context, w dns.ResponseWriter, r *dns.Msg, zi int) (int, error) {
	state := request.Request{W: w, Req: r}
	zone := d.zones.List[zi].Name
	key, signed := tsig.ValidatedKeyName(ctx)
	up := d.updater()
	reply := func(rcode int, result string) (int, error) {
		updatesTotal.WithLabelValues(zone, key, result).Inc()
		m := new(dns.Msg)
		m.SetRcode(r, rcode)
		w.WriteMsg(m)
		return dns.RcodeSuccess, nil
	}
	var why string
	switch {
	case state.Name() != zone:
		why = "the zone section names " + state.Name() + ", not a zone apex"
	case up == nil:
		why = "no update block"
	case !signed:
		why = "not signed with a TSIG key"
	case !up.policy.Knows(key):
		why = "no allow rule names the key"
	}
	if why != "" {
		if up != nil {
			up.refusedLog.Do(func() { log.Warningf("Refused an update of %s from %s: %s", zone, state.IP(), why) })
		}
		rcode := dns.RcodeRefused
		if state.Name() != zone {
			rcode = dns.RcodeNotAuth
		}
		return reply(rcode, resultOf(rcode))
	}
	if !up.limits[key].Allow() {
		up.refusedLog.Do(func() {
			log.Warningf("Refused an update of %s by key %q from %s: more than the rate allows", zone, key, state.IP())
		})
		return reply(dns.RcodeRefused, "ratelimited")
	}
	req, ferr := update.Parse(r, d.zones, zi, d.cfg.ttl, up.maxRecords)
	if ferr == nil {
		ferr = req.Authorize(up.policy, key)
	}
	if ferr != nil {
		log.Warningf("Refused an update of %s by key %q from %s: %s", zone, key, state.IP(), ferr.Why)
		return reply(ferr.Rcode, resultOf(ferr.Rcode))
	}
	res, err := d.apply(ctx, up, req)
	if err != nil {
		outcome := "nothing was written"
		if errors.As(err, new(*update.ErrCommit)) {
			outcome = "the commit got no answer, so it may or may not have been written"
		}
		log.Errorf("Update of %s by key %q from %s failed, %s: %s", zone, key, state.IP(), outcome, up.dsns.scrub(err.Error()))
		return reply(dns.RcodeServerFailure, resultOf(dns.RcodeServerFailure))
	}
	outcome := dns.RcodeToString[res.Rcode]
	if res.Why != "" {
		outcome += " (" + res.Why + ")"
	}
	log.Infof("Update of %s by key %q from %s: %s: %s, %d rows written", zone, key, state.IP(), req.Summary(), outcome, res.Changed)
	return reply(res.Rcode, resultOf(res.Rcode))
}

// apply runs req, and once it has changed rows, waits for this replica to
// serve them (bounded: the reply is due even if the reader lags).
func (d *DBRecords) apply(ctx context.Context, up *updater, req *update.Request) (update.Result, error) {
	tctx, cancel := context.WithTimeout(ctx, updateTimeout)
	defer cancel()
	res, err := up.w.Apply(tctx, req)
	if err != nil || res.Changed == 0 {
		return res, err
	}
	d.mu.Lock()
	sh := d.sh
	d.mu.Unlock()
	if sh != nil {
		t := time.NewTimer(appliedWait)
		defer t.Stop()
		select {
		case <-sh.polls.request():
		case <-t.C:
		case <-ctx.Done():
		}
	}
	return res, nil
}

// resultOf is the result label of an rcode: "noerror", "refused"...
func resultOf(rcode int) string { return strings.ToLower(dns.RcodeToString[rcode]) }

// updater returns the instance's updater, made at the first update: an
// instance that never serves (a reload that fails) opens no pool. Nil
// without an update block, or after OnShutdown.
func (d *DBRecords) updater() *updater {
	if d.cfg.update == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.up == nil && !d.down {
		d.up = d.newUpdater()
	}
	return d.up
}

// closeUpdater closes the writer pool.
func (up *updater) close() {
	if up != nil {
		up.w.DB.Close()
	}
}

// pollRequests lets an update ask the loader for a sync that starts after
// the request, and wait for its end: the replica that took an update then
// serves it before it replies.
type pollRequests struct {
	kick chan struct{} // holds one request to sync at once

	mu   sync.Mutex
	next chan struct{} // closed at the end of the next sync to start; nil when nobody waits
}

func newPollRequests() *pollRequests { return &pollRequests{kick: make(chan struct{}, 1)} }

// request returns a channel closed when a sync that starts after this call ends.
func (p *pollRequests) request() <-chan struct{} {
	p.mu.Lock()
	if p.next == nil {
		p.next = make(chan struct{})
	}
	ch := p.next
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
	return ch
}

// starting is called by the loader as a sync starts; it returns the channel
// to close when the sync ends, nil when nobody waits.
func (p *pollRequests) starting() chan struct{} {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	ch := p.next
	p.next = nil
	return ch
}

// kicks is what the loader's sleep listens to.
func (p *pollRequests) kicks() <-chan struct{} {
	if p == nil {
		return nil
	}
	return p.kick
}
