package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/records"
	"github.com/dbrecords/dbrecords/plugin/dbrecords/source"
	"github.com/miekg/dns"
)

// replicaAddrs returns the replicas to check: the addresses given, and
// every address the name service resolves to (a headless Service's pods).
func replicaAddrs(ctx context.Context, given []string, service string, port int) ([]string, error) {
	out := slices.Clone(given)
	for i, a := range out {
		if _, _, err := net.SplitHostPort(a); err != nil {
			out[i] = net.JoinHostPort(a, "53")
		}
	}
	if service != "" {
		ips, err := net.DefaultResolver.LookupHost(ctx, service)
		if err != nil {
			return nil, fmt.Errorf("--service %s: %w", service, err)
		}
		sort.Strings(ips)
		for _, ip := range ips {
			out = append(out, net.JoinHostPort(ip, strconv.Itoa(port)))
		}
	}
	if len(out) == 0 {
		return nil, errors.New("check: name the replicas (HOST:PORT arguments or --service)")
	}
	return out, nil
}

// rrset is what a name has of one type.
type rrset struct {
	contents []string // sorted, in presentation form (records.Record.Content)
	ttl      uint32
}

func (r rrset) String() string {
	if len(r.contents) == 0 {
		return "nothing"
	}
	return fmt.Sprintf("%s (ttl %d)", strings.Join(r.contents, " | "), r.ttl)
}

// expected is what the plugin serves for the rows of one name.
type expected struct {
	name string // FQDN, lower case
	apex bool   // a zone's apex: its NS RRset adds the ns property's names
	sets map[uint16]rrset
}

// types returns the types to ask for at e: A and AAAA always, and every
// type the table has there.
func (e expected) types() []uint16 {
	ts := []uint16{dns.TypeA, dns.TypeAAAA}
	for t := range e.sets {
		if !slices.Contains(ts, t) {
			ts = append(ts, t)
		}
	}
	slices.Sort(ts)
	return ts
}

// same reports whether a replica serving got serves what the table has.
func (e expected) same(t uint16, got, want rrset) bool {
	if e.apex && t == dns.TypeNS { // the ns property's names are added
		for _, c := range want.contents {
			if !slices.Contains(got.contents, c) {
				return false
			}
		}
		return true
	}
	return slices.Equal(got.contents, want.contents) && (len(want.contents) == 0 || got.ttl == want.ttl)
}

// check asks every replica for each zone's SOA serial and for the A and
// AAAA records of every name of the table in zones (or of sample random
// ones), compares the answers with the table as the plugin reads it, and
// prints every difference. Rows are judged by the plugin's own rules
// (records.Rules), with ttl as the replicas' ttl property.
func check(ctx context.Context, db *sql.DB, table string, zones []string, ttl uint32, sample int, axfr bool, replicas []string, w io.Writer) error {
	if !tableName.MatchString(table) {
		return fmt.Errorf("--table: invalid table name %q", table)
	}
	for i, z := range zones {
		zones[i] = dns.Fqdn(strings.ToLower(z))
	}
	names, inTable, err := loadExpected(ctx, db, table, records.NewRules(zones, ttl), sample)
	if err != nil {
		return err
	}
	diffs := 0
	report := func(format string, args ...any) {
		diffs++
		fmt.Fprintf(w, "DIFF "+format+"\n", args...)
	}
	// Serials: every replica should report the same one per zone.
	for _, z := range zones {
		serials := map[uint32][]string{}
		for _, r := range replicas {
			resp, err := ask(r, z, dns.TypeSOA)
			if err != nil || len(resp.Answer) == 0 {
				report("%s %s SOA: no answer (%v)", r, z, err)
				continue
			}
			if soa, ok := resp.Answer[0].(*dns.SOA); ok {
				serials[soa.Serial] = append(serials[soa.Serial], r)
			}
		}
		if len(serials) > 1 {
			report("%s SOA serials differ between replicas: %v (a change in flight also does this; run check again)", z, serials)
		}
	}
	// With axfr, every name a replica serves must be in the table: a row
	// deleted behind the triggers' back is found this way.
	if axfr && sample == 0 {
		for _, r := range replicas {
			for _, z := range zones {
				extra, err := servedNames(r, z)
				if err != nil {
					report("%s %s AXFR: %v (allow this address in the transfer plugin's to list)", r, z, err)
					continue
				}
				for _, n := range extra {
					if !inTable[n] {
						report("%s %s: served, but the table has no row for it", r, n)
					}
				}
			}
		}
	}
	// Names, 32 at a time per replica.
	var mu sync.Mutex
	for _, r := range replicas {
		work := make(chan expected)
		var wg sync.WaitGroup
		for range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for e := range work {
					for _, t := range e.types() {
						got, err := served(r, e.name, t)
						want := e.sets[t]
						mu.Lock()
						switch {
						case err != nil:
							report("%s %s %s: no answer (%v)", r, e.name, dns.TypeToString[t], err)
						case !e.same(t, got, want):
							report("%s %s %s: table has %s, replica serves %s", r, e.name, dns.TypeToString[t], want, got)
						}
						mu.Unlock()
					}
				}
			}()
		}
		for _, e := range names {
			select {
			case work <- e:
			case <-ctx.Done():
			}
		}
		close(work)
		wg.Wait()
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	fmt.Fprintf(w, "Checked %d names and %d zones on %d replicas: %d differences.\n", len(names), len(zones), len(replicas), diffs)
	if diffs > 0 {
		return errDiffer
	}
	return nil
}

// loadExpected reads the table's rows (all, or those of sample random
// names) and returns what the plugin serves for each name, by its rules,
// and every name read. Names below a delegation are left out (the replicas
// refer them), and at a delegation only its NS and DS are expected.
func loadExpected(ctx context.Context, db *sql.DB, table string, rules records.Rules, sample int) ([]expected, map[string]bool, error) {
	// The replicas read at most MaxRecords rows per name, the first by id.
	where := ""
	var args []any
	if sample > 0 {
		where = " WHERE name IN (SELECT name FROM (SELECT DISTINCT name FROM " + table + " ORDER BY RAND() LIMIT ?) AS s)"
		args = append(args, sample)
	}
	rows, err := db.QueryContext(ctx, source.Capped(table, where)+" ORDER BY name", args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	served := map[string]*records.Served{}
	for rows.Next() {
		var name, typ, content string
		var ttl sql.NullInt64
		var cut int64
		if err := rows.Scan(&name, &typ, &content, &ttl, &cut); err != nil {
			return nil, nil, err
		}
		rules.Add(served, name, typ, content, ttl.Int64, !ttl.Valid)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	// Every delegation, sampled or not: a sampled name may lie below one.
	cuts := map[string]bool{}
	nsRows, err := db.QueryContext(ctx, "SELECT DISTINCT name FROM "+table+" WHERE type = 'NS'")
	if err != nil {
		return nil, nil, err
	}
	defer nsRows.Close()
	for nsRows.Next() {
		var name string
		if err := nsRows.Scan(&name); err != nil {
			return nil, nil, err
		}
		if n := records.NameKey(name) + "."; !rules.Apex(n) {
			cuts[n] = true
		}
	}
	if err := nsRows.Err(); err != nil {
		return nil, nil, err
	}
	all := make(map[string]bool, len(served))
	out := make([]expected, 0, len(served))
	for name, s := range served {
		all[name] = true
		s.Settle()
		if below(name, cuts) {
			continue
		}
		e := expected{name: name, apex: rules.Apex(name), sets: map[uint16]rrset{}}
		for _, t := range s.Types() {
			if cuts[name] && t != dns.TypeNS && t != dns.TypeDS {
				continue // the child's, behind the referral
			}
			e.sets[t] = rrset{contents: s.Contents(t), ttl: s.TTL(t)}
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, all, nil
}

// below reports whether name lies strictly below one of cuts.
func below(name string, cuts map[string]bool) bool {
	for i, end := dns.NextLabel(name, 0); !end; i, end = dns.NextLabel(name, i) {
		if cuts[name[i:]] {
			return true
		}
	}
	return false
}

// servedNames returns the owner names of the records in an AXFR of zone
// from replica r but its apex, in lower case.
func servedNames(r, zone string) ([]string, error) {
	m := new(dns.Msg)
	m.SetAxfr(zone)
	tr := &dns.Transfer{DialTimeout: 5 * time.Second, ReadTimeout: time.Minute}
	env, err := tr.In(m, r)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for e := range env {
		if e.Error != nil {
			return nil, e.Error
		}
		for _, rr := range e.RR {
			if strings.EqualFold(rr.Header().Name, zone) {
				continue
			}
			if n := strings.ToLower(rr.Header().Name); !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	return out, nil
}

// served returns what replica r answers for name and type t.
func served(r, name string, t uint16) (rrset, error) {
	resp, err := ask(r, name, t)
	if err != nil {
		return rrset{}, err
	}
	if resp.Rcode != dns.RcodeSuccess && resp.Rcode != dns.RcodeNameError {
		return rrset{}, fmt.Errorf("rcode %s", dns.RcodeToString[resp.Rcode])
	}
	var set rrset
	// A delegation's NS RRset comes in a referral's authority section.
	for _, rr := range slices.Concat(resp.Answer, resp.Ns) {
		h := rr.Header()
		if h.Rrtype != t || !strings.EqualFold(h.Name, name) {
			continue
		}
		set.contents, set.ttl = append(set.contents, records.Presentation(rr)), h.Ttl
	}
	sort.Strings(set.contents)
	return set, nil
}

// ask queries r over UDP (TCP when truncated), three tries.
func ask(r, name string, t uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, t)
	m.RecursionDesired = false
	m.SetEdns0(1232, false)
	c := dns.Client{Timeout: 2 * time.Second}
	var err error
	for range 3 {
		var resp *dns.Msg
		resp, _, err = c.Exchange(m, r)
		if err == nil && resp.Truncated {
			tc := dns.Client{Net: "tcp", Timeout: 2 * time.Second}
			resp, _, err = tc.Exchange(m, r)
		}
		if err == nil {
			return resp, nil
		}
	}
	return nil, err
}
