package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/dbrecords/dbrecords/test/dnskey"

	"github.com/miekg/dns"
)

// signedSystems are dbrecords unsigned, signing itself with a P-256 and an
// Ed25519 key, and with CoreDNS's dnssec plugin in front (P-256, its
// default cache), all asked with the DO bit.
func signedSystems(opt options, d *dataset) ([]system, error) {
	p256, _, err := dnskey.Write(opt.work, zone+".", dns.ECDSAP256SHA256, 257)
	if err != nil {
		return nil, err
	}
	ed, _, err := dnskey.Write(opt.work, zone+".", dns.ED25519, 257)
	if err != nil {
		return nil, err
	}
	base := systems(d)[0].config
	with := func(name, old, repl string) system {
		return system{name: name, config: func(opt options, d *dataset, port int) ([]string, error) {
			args, err := base(opt, d, port)
			if err != nil {
				return nil, err
			}
			b, err := os.ReadFile(args[2])
			if err != nil {
				return nil, err
			}
			return args, os.WriteFile(args[2], []byte(strings.Replace(string(b), old, repl, 1)), 0o600)
		}}
	}
	return []system{
		with("unsigned", "", ""),
		with("signed P-256", "\t\tdsn ", "\t\tkey file "+p256+"\n\t\tdsn "),
		with("signed Ed25519", "\t\tdsn ", "\t\tkey file "+ed+"\n\t\tdsn "),
		with("dnssec plugin P-256", "\tdbrecords {", "\tdnssec {\n\t\tkey file "+p256+"\n\t}\n\tdbrecords {"),
	}, nil
}

// dnssecBench runs the signed systems in alternating rounds with dnsperf -D
// and returns the report section: qps per mix, ratios to unsigned, RSS.
func dnssecBench(ctx context.Context, opt options, d *dataset) (string, error) {
	sys, err := signedSystems(opt, d)
	if err != nil {
		return "", err
	}
	m, err := rounds(ctx, opt, d, sys, "-D")
	if err != nil {
		return "", err
	}
	qps := func(name, mix string) float64 {
		return median(field(m[name].runs[mix], func(r result) float64 { return r.qps }))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "DNSSEC (dnsperf -D, every query with the DO bit; medians with min–max):\n\n")
	fmt.Fprintf(&b, "| system | start to ready s | RSS MiB after load | RSS MiB after runs |")
	for _, mix := range mixes {
		fmt.Fprintf(&b, " %s qps | %s ×unsigned |", mix, mix)
	}
	b.WriteString("\n|---|---|---|---|" + strings.Repeat("---|---|", len(mixes)) + "\n")
	for _, s := range sys {
		ms := m[s.name]
		fmt.Fprintf(&b, "| %s | %s | %s | %s |", s.name, spread(durations(ms.readyIn), "%.1f"), spread(ms.rssReady, "%.0f"),
			spread(field(ms.runs[mixes[len(mixes)-1]], func(r result) float64 { return r.rss }), "%.0f"))
		for _, mix := range mixes {
			fmt.Fprintf(&b, " %s | %.2f× |", spread(field(ms.runs[mix], func(r result) float64 { return r.qps }), "%.0f"), qps(s.name, mix)/qps("unsigned", mix))
		}
		b.WriteString("\n")
	}
	return b.String(), nil
}
