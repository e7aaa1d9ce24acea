//go:build tools

// Package acme pins the ACME test CA (pebble) and the ACME client (lego)
// that the DNS-01 test runs against the built coredns.
package acme

import (
	_ "github.com/go-acme/lego/v4/cmd/lego"
	_ "github.com/letsencrypt/pebble/v2/cmd/pebble"
)
