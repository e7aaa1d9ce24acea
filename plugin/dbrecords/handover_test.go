package dbrecords

import "testing"

// TestRegistryRestarts walks the registry through caddy's restart cases: a
// successful reload hands settings over when the new instance has started; a
// failed one (undone by abort, or by the next instance that starts) changes
// nothing and leaks nothing; a later failure never touches running users.
func TestRegistryRestarts(t *testing.T) {
	r := &registry{byKey: map[string]*shared{}}
	stops := 0
	start := func(sh *shared) { sh.stop = func() { stops++ } }
	live := &instanceToken{}
	r.started(live)
	s60, s999 := settings{ttl: 60}, settings{ttl: 999}
	began := 0 // instances whose start-up work (the notifier) ran
	onStart := func(*shared) { began++ }
	sh := r.attach("k", "zones", s60, live, start, onStart)
	if began != 1 {
		t.Fatalf("Expected a started instance's start-up work to run at once, got %d", began)
	}

	// A reload that fails after dbrecords attached: abort undoes it.
	failed := &instanceToken{}
	r.attach("k", "zones", s999, failed, start, onStart)
	if !sh.current.same(s60) || len(sh.set) != 0 {
		t.Fatalf("Expected a pending instance's settings not to reach the loader, got %+v", sh.current)
	}
	r.abort()
	if sh.users != 1 || stops != 0 || !sh.current.same(s60) || began != 1 {
		t.Fatalf("Expected the running user alone and the loader running, got %d users, %d stops, %+v", sh.users, stops, sh.current)
	}

	// A reload that fails without our OnRestartFailed (no dbrecords in the
	// old Corefile), then one that succeeds: the next start undoes the first.
	lost, next := &instanceToken{}, &instanceToken{}
	r.attach("k", "zones", s999, lost, start, onStart)
	r.attach("k", "zones", s999, next, start, onStart)
	r.started(next)
	if began != 2 {
		t.Fatalf("Expected only the started instance's start-up work to run, got %d runs in all", began)
	}
	r.detach(sh) // the old instance shuts down
	if sh.users != 1 || stops != 0 || !sh.current.same(s999) || len(sh.set) != 1 {
		t.Fatalf("Expected one user with the new settings handed over, got %d users, %d stops, %+v", sh.users, stops, sh.current)
	}

	// A failure later (say in another plugin's OnRestart) aborts with
	// nothing pending: the running user stays.
	r.abort()
	if sh.users != 1 || stops != 0 {
		t.Fatalf("Expected an abort with nothing pending to change nothing, got %d users, %d stops", sh.users, stops)
	}
	r.detach(sh)
	if stops != 1 || len(r.byKey) != 0 {
		t.Errorf("Expected the loader stopped with its last user, got %d stops and %d loaders", stops, len(r.byKey))
	}
}
