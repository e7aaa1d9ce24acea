package dbrecords

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/fall"
	pkgtls "github.com/coredns/coredns/plugin/pkg/tls"
	"github.com/coredns/coredns/plugin/transfer"

	"github.com/dbrecords/dbrecords/plugin/dbrecords/dnssec"
	"github.com/dbrecords/dbrecords/plugin/dbrecords/records"
	"github.com/dbrecords/dbrecords/plugin/dbrecords/store"
	"github.com/go-sql-driver/mysql"
	"github.com/miekg/dns"
)

const pluginName = "dbrecords"

const (
	defaultTable       = "dns_records"
	defaultRefresh     = time.Second
	defaultTTL         = 60
	defaultNegativeTTL = 30
	defaultReconcile   = 6 * time.Hour
	minReconcile       = time.Second
	minRefresh         = 100 * time.Millisecond
	minJournal         = 64 << 10
)

// tableName allows names whose every object (the longest is the index
// TABLE_changes_changed_at) fits MySQL's 64-character identifier limit, and
// that need no quoting (reserved words such as "order" still do not work).
var tableName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,44}$`)

func init() { plugin.Register(pluginName, setup) }

func setup(c *caddy.Controller) error {
	cfg, err := parse(c)
	if err != nil {
		return plugin.Error(pluginName, err)
	}

	d := New(cfg)
	if cfg.update != nil {
		// The server rejects UPDATE (NOTIMP) unless a plugin opts in.
		dnsserver.GetConfig(c).AllowOpcode(dns.OpcodeUpdate)
	}
	c.OnStartup(func() error {
		// The transfer plugin of this server block, if any, sends NOTIFY.
		d.xfer, _ = dnsserver.GetConfig(c).Handler("transfer").(*transfer.Transfer)
		if len(cfg.keys) > 0 && dnsserver.GetConfig(c).Handler("dnssec") != nil {
			return plugin.Error(pluginName, errors.New("property 'key': the dnssec plugin in this server block would sign the answers a second time; give the keys to one of them"))
		}
		if err := checkTSIG(dnsserver.GetConfig(c), cfg.update); err != nil {
			return plugin.Error(pluginName, err)
		}
		return nil
	})
	c.OnStartup(d.OnStartup)
	c.OnShutdown(d.OnShutdown)
	d.token = instanceOf(c)
	registerHook()
	// When this instance is replaced and the replacement fails to start,
	// what the replacement attached to is undone (see handover.go).
	c.OnRestartFailed(func() error { loaders.abort(); return nil })

	dnsserver.GetConfig(c).AddPlugin(func(next plugin.Handler) plugin.Handler {
		d.Next = next
		return d
	})
	return nil
}

// config is the parsed dbrecords block. It holds no live resources.
type config struct {
	zones       []string // lower-case FQDNs
	dsn         *mysql.Config
	table       string
	refresh     time.Duration
	reconcile   time.Duration // 0: never
	ttl         uint32
	negativeTTL uint32
	ns          []string // lower-case FQDNs; empty means ns.dns.<zone>
	fall        fall.F
	dsnFile     string        // where dsn came from, watched; "" for dsn
	tls         *tls.Config   // nil: plain connections
	tlsArgs     []string      // the files tls names
	journal     int           // IXFR journal bytes per zone
	keys        []*dnssec.Key // DNSSEC keys; none: answers are not signed
	galeraNodes []string      // HOST:PORT of Galera nodes that may be dialled without tls
	update      *updateConfig // the update block; nil without one

	snapshotDir   string        // snapshot DIR: where the snapshot file is kept; "" for none
	snapshotEvery time.Duration // the least time between two files
}

// parseSnapshot parses "snapshot DIR [EVERY]".
func (cfg *config) parseSnapshot(c *caddy.Controller) error {
	args := c.RemainingArgs()
	if len(args) < 1 || len(args) > 2 {
		return c.Errf("property 'snapshot' takes a directory and optionally an interval, got %d arguments", len(args))
	}
	if fi, err := os.Stat(args[0]); err != nil || !fi.IsDir() {
		return c.Errf("property 'snapshot': %q is not a directory", args[0])
	}
	cfg.snapshotDir, cfg.snapshotEvery = args[0], defaultSnapshotEvery
	if len(args) == 2 {
		d, err := time.ParseDuration(args[1])
		if err != nil || d < time.Second {
			return c.Errf("property 'snapshot': invalid interval %q (want e.g. 30s, at least 1s)", args[1])
		}
		cfg.snapshotEvery = d
	}
	return nil
}

// hostPortArgs parses one or more HOST:PORT arguments.
func hostPortArgs(c *caddy.Controller) ([]string, error) {
	prop := c.Val()
	args := c.RemainingArgs()
	if len(args) == 0 {
		return nil, c.Errf("property '%s' takes one or more HOST:PORT", prop)
	}
	for _, a := range args {
		if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
			return nil, c.Errf("property '%s': %q is not HOST:PORT", prop, a)
		}
	}
	return args, nil
}

// addKeys parses "key file KEY...", as the dnssec plugin spells it.
func (cfg *config) addKeys(c *caddy.Controller) error {
	args := c.RemainingArgs()
	if len(args) < 2 || args[0] != "file" {
		return c.Err("property 'key' takes 'file' and at least one key file (as dnssec-keygen names them)")
	}
	for _, f := range args[1:] {
		k, err := dnssec.ReadKey(f)
		if err != nil {
			return c.Errf("property 'key': %v", err)
		}
		cfg.keys = append(cfg.keys, k)
	}
	return nil
}

// logKeys says, per zone, which keys sign what and the DS records its parent
// needs: those of the keys that sign the DNSKEY RRset only, since the DS of a
// key that does not makes the zone bogus.
func (cfg *config) logKeys() {
	for _, z := range cfg.zones {
		var keys []*dnssec.Key
		for _, k := range cfg.keys {
			if strings.EqualFold(k.RR.Hdr.Name, z) {
				keys = append(keys, k)
			}
		}
		ksk, zsk := dnssec.Split(keys)
		for _, k := range keys {
			alg := dns.AlgorithmToString[k.RR.Algorithm]
			switch k.RR.Algorithm {
			case dns.RSASHA1, dns.RSASHA1NSEC3SHA1, dns.RSASHA256, dns.RSASHA512:
				log.Warningf("Key %d of %s is %s: every answer for a name that does not exist is signed when asked, about 2.3 ms of CPU with RSA (55 times Ed25519), so a flood of such names costs a core per 430 queries/s; prefer ED25519 (docs/hardening.md)", k.Tag, z, alg)
			}
			switch {
			case !slices.Contains(ksk, k):
				log.Infof("Signing %s with zone-signing key %d (%s); it has no DS", z, k.Tag, alg)
			case k.RR.ToDS(dns.SHA256) != nil:
				role := "key-signing key"
				if slices.Contains(zsk, k) {
					role = "key"
				}
				log.Infof("Signing %s with %s %d (%s); the DS for its parent: %s", z, role, k.Tag, alg,
					strings.Join(strings.Fields(k.RR.ToDS(dns.SHA256).String()), " "))
			}
		}
	}
}

// setTLS parses "tls [CERT KEY] CACERT" as CoreDNS's etcd plugin does.
func (cfg *config) setTLS(c *caddy.Controller) error {
	args := c.RemainingArgs()
	if len(args) != 1 && len(args) != 3 {
		return c.Errf("property 'tls' takes CACERT or CERT KEY CACERT, got %d arguments", len(args))
	}
	t, err := pkgtls.NewTLSConfigFromArgs(args...)
	if err != nil {
		return c.Errf("property 'tls': %v", err)
	}
	cfg.tls, cfg.tlsArgs = t, args
	return nil
}

func parse(c *caddy.Controller) (*config, error) {
	cfg := &config{
		table: defaultTable, refresh: defaultRefresh, reconcile: defaultReconcile,
		ttl: defaultTTL, negativeTTL: defaultNegativeTTL, journal: store.DefaultJournal,
	}
	var dsn, dsnFile, fileDSN string
	i := 0
	for c.Next() {
		if i > 0 {
			return nil, plugin.ErrOnce
		}
		i++
		cfg.zones = plugin.OriginsFromArgsOrServerBlock(c.RemainingArgs(), c.ServerBlockKeys)
		for c.NextBlock() {
			var err error
			switch c.Val() {
			case "dsn":
				dsn, err = oneArg(c)
			case "dsn_file":
				dsnFile, fileDSN, err = dsnFileArg(c, "")
			case "table":
				cfg.table, err = oneArg(c)
				if err == nil && !tableName.MatchString(cfg.table) {
					err = c.Errf("property 'table': invalid table name %q (letters, digits and '_', at most 45)", cfg.table)
				}
			case "refresh":
				cfg.refresh, err = durationArg(c, minRefresh, false)
			case "reconcile":
				cfg.reconcile, err = durationArg(c, minReconcile, true)
			case "ttl":
				cfg.ttl, err = ttlArg(c)
			case "negative_ttl":
				cfg.negativeTTL, err = ttlArg(c)
			case "ns":
				cfg.ns, err = nsArgs(c)
			case "fallthrough":
				cfg.fall.SetZonesFromArgs(c.RemainingArgs())
			case "tls":
				err = cfg.setTLS(c)
			case "ixfr_journal":
				cfg.journal, err = sizeArg(c, minJournal)
			case "key":
				err = cfg.addKeys(c)
			case "galera_nodes":
				cfg.galeraNodes, err = hostPortArgs(c)
			case "update":
				err = cfg.parseUpdate(c)
			case "snapshot":
				err = cfg.parseSnapshot(c)
			default:
				err = c.Errf("unknown property '%s'", c.Val())
			}
			if err != nil {
				return nil, err
			}
		}
	}
	for i := range cfg.zones {
		cfg.zones[i] = strings.ToLower(cfg.zones[i])
	}
	for _, k := range cfg.keys {
		if owner := strings.ToLower(k.RR.Hdr.Name); !slices.Contains(cfg.zones, owner) {
			return nil, c.Errf("property 'key': key %d is for %s, which this block does not serve (%s)", k.Tag, owner, strings.Join(cfg.zones, " "))
		}
	}
	cfg.logKeys()
	return cfg, cfg.setDSN(c, dsn, dsnFile, fileDSN)
}

// setDSN checks the rules that span dsn and dsn_file, and parses the DSN.
func (cfg *config) setDSN(c *caddy.Controller, dsn, dsnFile, fileDSN string) error {
	var err error
	cfg.dsn, cfg.dsnFile, err = pickDSN(c, "", dsn, dsnFile, fileDSN)
	return err
}

// dsnFileArg parses "dsn_file PATH" and reads the DSN in PATH; prefix
// names the block in errors ("update " in the update block).
func dsnFileArg(c *caddy.Controller, prefix string) (path, dsn string, err error) {
	if path, err = oneArg(c); err != nil {
		return "", "", err
	}
	if dsn, err = readDSNFile(path); err != nil {
		return "", "", c.Errf("property '%sdsn_file': %v", prefix, err)
	}
	return path, dsn, nil
}

// pickDSN checks that exactly one of dsn and dsn_file (whose content is
// fileDSN) is given, in the block whose properties are named with prefix
// ("update " in the update block), and parses it. It returns the file's
// path for dsn_file.
func pickDSN(c *caddy.Controller, prefix, dsn, dsnFile, fileDSN string) (*mysql.Config, string, error) {
	switch {
	case dsn != "" && dsnFile != "":
		return nil, "", c.Errf("properties '%[1]sdsn' and '%[1]sdsn_file' are mutually exclusive", prefix)
	case dsn == "" && dsnFile == "":
		return nil, "", c.Errf("property '%[1]sdsn' or '%[1]sdsn_file' is required", prefix)
	}
	prop := "dsn"
	if dsnFile != "" {
		prop, dsn = "dsn_file", fileDSN
	}
	parsed, err := parseDSN(dsn)
	if err != nil {
		return nil, "", c.Errf("property '%s%s': %v", prefix, prop, err)
	}
	return parsed, dsnFile, nil
}

// oneArg reads the single argument of the current property. Its error never
// repeats the argument, which may be a DSN with a password.
func oneArg(c *caddy.Controller) (string, error) {
	prop := c.Val()
	args := c.RemainingArgs()
	if len(args) != 1 {
		return "", c.Errf("property '%s' takes exactly one argument, got %d", prop, len(args))
	}
	return args[0], nil
}

// durationArg parses a duration of at least floor; "0" means off where allowOff.
func durationArg(c *caddy.Controller, floor time.Duration, allowOff bool) (time.Duration, error) {
	prop := c.Val()
	s, err := oneArg(c)
	if err != nil {
		return 0, err
	}
	if allowOff && s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < floor {
		off := ""
		if allowOff {
			off = ", or 0 for never"
		}
		return 0, c.Errf("property '%s': invalid duration %q (want e.g. 1s, at least %s%s)", prop, s, floor, off)
	}
	return d, nil
}

// sizeArg parses a byte count of at least floor: a number, optionally with
// KiB, MiB or GiB.
func sizeArg(c *caddy.Controller, floor int) (int, error) {
	prop := c.Val()
	s, err := oneArg(c)
	if err != nil {
		return 0, err
	}
	num, unit := s, 1
	for suffix, u := range map[string]int{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if strings.HasSuffix(s, suffix) {
			num, unit = strings.TrimSuffix(s, suffix), u
		}
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 0 || n > (1<<40)/unit || n*unit < floor {
		return 0, c.Errf("property '%s': invalid size %q (want bytes, or e.g. 8MiB; at least %dKiB)", prop, s, floor>>10)
	}
	return n * unit, nil
}

func ttlArg(c *caddy.Controller) (uint32, error) {
	prop := c.Val()
	s, err := oneArg(c)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n > records.MaxTTL {
		return 0, c.Errf("property '%s': invalid TTL %q (want seconds from 0 to %d)", prop, s, records.MaxTTL)
	}
	return uint32(n), nil
}

func nsArgs(c *caddy.Controller) ([]string, error) {
	args := c.RemainingArgs()
	if len(args) == 0 {
		return nil, c.Err("property 'ns' takes at least one name server name")
	}
	ns := make([]string, len(args))
	for i, a := range args {
		key := records.NameKey(a)
		if !records.ValidName(key) || strings.HasPrefix(key, "*") {
			return nil, c.Errf("property 'ns': invalid name server name %q", a)
		}
		ns[i] = dns.Fqdn(key)
	}
	return ns, nil
}
