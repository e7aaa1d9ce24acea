package dbrecords

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/go-sql-driver/mysql"
	"github.com/miekg/dns"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/records"
	"github.com/dbrecords/dbrecords/plugin/dbrecords/update"
)

const (
	defaultMaxRecords = 1000 // records per update: external-dns sends 50 changes of a few records each
	defaultUpdateRate = 20   // updates per second per key, and as many at once
)

// updateConfig is the parsed update block: DNS UPDATE through a writer account.
type updateConfig struct {
	dsn        *mysql.Config
	dsnFile    string // where dsn came from, read again for each connection; "" for dsn
	policy     update.Policy
	maxRecords int
	rate       int // updates per second per key
}

// parseUpdate parses the update block.
func (cfg *config) parseUpdate(c *caddy.Controller) error {
	if cfg.update != nil {
		return c.Err("property 'update' is given twice")
	}
	if len(c.RemainingArgs()) != 0 {
		return c.Err("property 'update' takes no arguments, only a block")
	}
	u := &updateConfig{maxRecords: defaultMaxRecords, rate: defaultUpdateRate}
	var dsn, dsnFile, fileDSN string
	for c.NextBlock() {
		var err error
		switch c.Val() {
		case "dsn":
			dsn, err = oneArg(c)
		case "dsn_file":
			dsnFile, fileDSN, err = dsnFileArg(c, "update ")
		case "allow":
			var r update.Rule
			if r, err = cfg.allowArgs(c); err == nil {
				u.policy = append(u.policy, r)
			}
		case "max_records":
			u.maxRecords, err = countArg(c, 1, 65535)
		case "rate":
			u.rate, err = countArg(c, 1, 100000)
		default:
			err = c.Errf("unknown property 'update %s'", c.Val())
		}
		if err != nil {
			return err
		}
	}
	if len(u.policy) == 0 {
		return c.Err("property 'update': no 'allow' rule, so every update would be refused")
	}
	var err error
	u.dsn, u.dsnFile, err = pickDSN(c, "update ", dsn, dsnFile, fileDSN)
	cfg.update = u
	return err
}

// allowArgs parses "allow KEY NAME... TYPE...".
func (cfg *config) allowArgs(c *caddy.Controller) (update.Rule, error) {
	args := c.RemainingArgs()
	if len(args) < 3 {
		return update.Rule{}, c.Err("property 'allow' takes a TSIG key name, one or more names and one or more types")
	}
	r := update.Rule{Key: plugin.Name(args[0]).Normalize()}
	for _, a := range args[1:] {
		if t, ok := updateType(a); ok && len(r.Names) > 0 {
			r.Types = append(r.Types, t)
			continue
		}
		if _, known := dns.StringToType[strings.ToUpper(a)]; known || len(r.Types) > 0 {
			return update.Rule{}, c.Errf("property 'allow': %q is not a type this plugin serves (or ANY), or comes before the names", a)
		}
		key := records.NameKey(a)
		fqdn := key + "."
		inZone := false
		for _, z := range cfg.zones {
			inZone = inZone || records.InZone(fqdn, strings.ToLower(z))
		}
		if !records.ValidName(key) || strings.HasPrefix(key, "*") && !strings.HasPrefix(key, "*.") || !inZone {
			return update.Rule{}, c.Errf("property 'allow': %q is not a host name (or *.NAME) in a zone of this block", a)
		}
		r.Names = append(r.Names, fqdn)
	}
	if len(r.Types) == 0 {
		return update.Rule{}, c.Err("property 'allow': no type after the names (A, AAAA, TXT... or ANY)")
	}
	return r, nil
}

// updateType parses a type of an allow rule: one the plugin serves, or ANY.
func updateType(s string) (uint16, bool) {
	if strings.EqualFold(s, "ANY") {
		return dns.TypeANY, true
	}
	t, ok := dns.StringToType[strings.ToUpper(s)]
	return t, ok && records.ServedType(t)
}

// errNoTSIG is the start-up error of an update block in a server block
// without the tsig plugin, which would leave every update unsigned.
var errNoTSIG = errors.New("property 'update': this server block has no tsig plugin, which verifies the TSIG signatures of updates; add a tsig block with the keys the allow rules name")

// checkTSIG checks that the tsig plugin of the server block verifies the
// keys the allow rules name.
func checkTSIG(sc *dnsserver.Config, u *updateConfig) error {
	if u == nil {
		return nil
	}
	if sc.Handler("tsig") == nil {
		return errNoTSIG
	}
	for _, r := range u.policy {
		if _, ok := sc.TsigSecret[r.Key]; !ok {
			return fmt.Errorf("property 'allow': the tsig plugin of this server block has no secret for key %q", r.Key)
		}
	}
	return nil
}

// countArg parses a whole number from lo to hi.
func countArg(c *caddy.Controller, lo, hi int) (int, error) {
	prop := c.Val()
	s, err := oneArg(c)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, c.Errf("property '%s': invalid number %q (want %d to %d)", prop, s, lo, hi)
	}
	return n, nil
}
