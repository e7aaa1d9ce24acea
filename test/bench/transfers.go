package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// transfers starts dbrecords with the transfer plugin and measures an AXFR
// of the whole zone (time, RRs, peak RSS above the idle RSS), the IXFR after
// one change, and the hits mix with and without AXFRs running meanwhile.
func transfers(ctx context.Context, opt options, d *dataset) (string, error) {
	s := system{name: "dbrecords+transfer", config: systems(d)[0].config}
	base := s.config
	s.config = func(opt options, d *dataset, port int) ([]string, error) {
		args, err := base(opt, d, port)
		if err != nil {
			return nil, err
		}
		path := args[2]
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		body := strings.Replace(string(b), "\tdbrecords {", "\ttransfer {\n\t\tto *\n\t}\n\tdbrecords {", 1)
		return args, os.WriteFile(path, []byte(body), 0o600)
	}
	r, err := start(opt, d, s)
	if err != nil {
		return "", err
	}
	defer r.stop()
	addr := "127.0.0.1:" + strconv.Itoa(r.port)
	time.Sleep(2 * time.Second) // let the load's garbage go
	idle := r.rss()

	var peak atomic.Value
	peak.Store(idle)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
				if v := r.rss(); v > peak.Load().(float64) {
					peak.Store(v)
				}
			}
		}
	}()
	began := time.Now()
	rrs, _, err := transfer(addr, 0)
	took := time.Since(began)
	close(stop)
	wg.Wait()
	if err != nil {
		return "", fmt.Errorf("AXFR: %w", err)
	}

	// IXFR after one changed name. The journal starts with the first
	// change after start-up, so one change goes first.
	update := func(i int) error {
		name := fmt.Sprintf("app-%d.%s", i, zone)
		if _, err := d.db.ExecContext(ctx, "UPDATE dns_records SET content = '192.0.2.250' WHERE name = ?", name); err != nil {
			return err
		}
		for deadline := time.Now().Add(30 * time.Second); answer(addr, name+".") != "192.0.2.250"; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				return fmt.Errorf("the update of %s was not answered within 30 s", name)
			}
		}
		return nil
	}
	if err := update(d.n / 3); err != nil {
		return "", err
	}
	soa, _, err := transfer(addr, rrs[0].(*dns.SOA).Serial+1<<30) // a serial ahead of ours: one SOA
	if err != nil {
		return "", err
	}
	if err := update(d.n / 2); err != nil {
		return "", err
	}
	ixfr, ixfrBytes, err := transfer(addr, soa[0].(*dns.SOA).Serial)
	if err != nil {
		return "", fmt.Errorf("IXFR: %w", err)
	}

	// Hits alone, then hits while AXFRs run back to back.
	quiet, err := load(ctx, opt, d.db, r, d.queries["hits"])
	if err != nil {
		return "", err
	}
	done := make(chan struct{})
	var axfrs atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, _, err := transfer(addr, 0); err == nil {
				axfrs.Add(1)
			}
		}
	}()
	busy, err := load(ctx, opt, d.db, r, d.queries["hits"])
	close(done)
	wg.Wait()
	if err != nil {
		return "", err
	}

	var b strings.Builder
	fmt.Fprintf(&b, "Zone transfers (dbrecords with `transfer { to * }`; the client is this program, unpinned):\n\n")
	fmt.Fprintf(&b, "| measure | value |\n|---|---|\n")
	fmt.Fprintf(&b, "| AXFR of %d names | %d RRs in %.2f s |\n", d.n, len(rrs), took.Seconds())
	fmt.Fprintf(&b, "| RSS idle → peak during the AXFR | %.0f → %.0f MiB (+%.0f MiB) |\n", idle, peak.Load().(float64), peak.Load().(float64)-idle)
	fmt.Fprintf(&b, "| IXFR after one changed name | %d RRs, %d bytes of RRs |\n", len(ixfr), ixfrBytes)
	fmt.Fprintf(&b, "| hits qps alone / while AXFRs run | %.0f / %.0f (%.2f×, %d AXFRs during the run) |\n",
		quiet.qps, busy.qps, busy.qps/quiet.qps, axfrs.Load())
	return b.String(), nil
}

// transfer does an AXFR (serial 0) or IXFR from serial and returns the RRs
// and their wire length.
func transfer(addr string, serial uint32) ([]dns.RR, int, error) {
	m := new(dns.Msg)
	if serial == 0 {
		m.SetAxfr(zone + ".")
	} else {
		m.SetIxfr(zone+".", serial, "ns.dns."+zone+".", "hostmaster."+zone+".")
	}
	tr := &dns.Transfer{ReadTimeout: time.Minute}
	env, err := tr.In(m, addr)
	if err != nil {
		return nil, 0, err
	}
	var rrs []dns.RR
	size := 0
	for e := range env {
		if e.Error != nil {
			return nil, 0, e.Error
		}
		for _, rr := range e.RR {
			size += dns.Len(rr)
		}
		rrs = append(rrs, e.RR...)
	}
	if len(rrs) == 0 {
		return nil, 0, fmt.Errorf("no RRs")
	}
	return rrs, size, nil
}
