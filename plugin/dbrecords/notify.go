package dbrecords

import (
	"context"
	"sync"
	"time"

	"github.com/coredns/coredns/plugin/transfer"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/store"
)

// notifyDelay gathers a burst of syncs into one NOTIFY.
const notifyDelay = 100 * time.Millisecond

// signal wakes every waiter once per broadcast.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

// wait returns a channel closed at the next broadcast.
func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *signal) broadcast() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}

// notifier sends NOTIFY, through the transfer plugin, for every zone whose
// serial changed: once after start-up, then after every change. Each zone
// has its own sender, so a secondary that does not answer (the transfer
// plugin tries it for about 6 s) holds up neither syncs, nor queries, nor
// other zones; while a zone's NOTIFY is in flight, further changes to it
// wait and go out as one.
type notifier struct {
	xfer   *transfer.Transfer
	zones  []string
	snap   func() *store.Snapshot
	change *signal
}

func (n *notifier) run(ctx context.Context) {
	// The senders end with ctx, or when a NOTIFY in flight returns: a
	// shutdown or reload does not wait for a silent secondary.
	kicks := make([]chan struct{}, len(n.zones))
	for zi := range n.zones {
		kicks[zi] = make(chan struct{}, 1)
		go n.send(ctx, n.zones[zi], kicks[zi])
	}
	var last []uint32 // nil: nothing sent yet
	for {
		wake := n.change.wait()
		if s := n.snap(); s != nil {
			for zi := range n.zones {
				if last == nil || s.Zones[zi].Serial != last[zi] {
					select {
					case kicks[zi] <- struct{}{}:
					default: // one is waiting already
					}
				}
			}
			last = make([]uint32, len(n.zones))
			for zi := range last {
				last[zi] = s.Zones[zi].Serial
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(notifyDelay):
		}
	}
}

// send notifies the secondaries of zone at every kick.
func (n *notifier) send(ctx context.Context, zone string, kick <-chan struct{}) {
	lim := limiter{interval: errorLogInterval}
	notifyErrors.WithLabelValues(zone).Add(0) // for alerts on its increase
	for {
		select {
		case <-ctx.Done():
			return
		case <-kick:
		}
		if ctx.Err() != nil {
			return
		}
		if err := n.xfer.Notify(zone); err != nil {
			notifyErrors.WithLabelValues(zone).Inc()
			if lim.allow(time.Now()) {
				log.Warningf("NOTIFY for %s: %v", zone, err)
			}
		}
	}
}
