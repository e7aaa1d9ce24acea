# dbrecords: a CoreDNS plugin serving DNS zones from a MySQL table.
# `make demo` and `make test` work on a fresh Debian/Ubuntu machine with Go.

MYSQL_DSN  ?= root@tcp(127.0.0.1:3306)/
DEMO_DB    ?= dbrecords_demo
GITCOMMIT  := $(shell git describe --dirty --always 2>/dev/null || echo unknown)
# The one version and image tag: the chart's appVersion (CoreDNS version, then
# the dbrecords release), which is also the chart's default image tag.
VERSION    := $(shell sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}/\1/p' deploy/helm/dbrecords/Chart.yaml)
GOARCH     ?= $(shell go env GOARCH)
LDFLAGS    := -s -w -X github.com/coredns/coredns/coremain.GitCommit=$(GITCOMMIT)
GOTEST     ?= go test -race -count=1 -timeout 15m

export MYSQL_DSN

PACKAGES   := knotd:knot delv:bind9-dnsutils nsupdate:bind9-dnsutils unbound:unbound certbot:certbot \
	/usr/lib/python3/dist-packages/certbot_dns_rfc2136:python3-certbot-dns-rfc2136
# external-dns for make test-external-dns, built from its own module (its
# dependency graph is too wide to pin beside lego's).
EXTERNAL_DNS := v0.15.1

.PHONY: version build generate packages test test-scale test-huge test-topologies test-external-dns bench helm acme image mysql demo stop fmt lint clean

## version: the version and image tag (the chart's appVersion)
version:
	@echo $(VERSION)

## build: ./coredns, upstream CoreDNS (version pinned in go.mod) with the plugins in plugin.cfg, and ./dbrecords, the admin command
build: build/coredns/main.go
	CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)" -o coredns ./build/coredns
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o dbrecords ./cmd/dbrecords

## generate: regenerate build/coredns/main.go from plugin.cfg (make build does it when plugin.cfg changed)
generate:
	go run ./build/gen

build/coredns/main.go: plugin.cfg $(wildcard build/gen/*.go)
	go run ./build/gen

## mysql: make sure a MySQL-compatible server answers at MYSQL_DSN (installs MariaDB if needed)
mysql:
	bash test/mysql.sh

## packages: the Debian packages the tests use besides MariaDB (Knot as a secondary and as the reference server, delv and Unbound as validators, nsupdate and certbot with its rfc2136 plugin as update clients), installed when missing
packages:
	bash test/packages.sh $(PACKAGES)

## test: unit and integration tests, with the race detector, against a real MariaDB
test: build mysql packages helm acme
	DBRECORDS_REQUIRE_DB=1 COREDNS_BINARY=$(CURDIR)/coredns ADMIN_BINARY=$(CURDIR)/dbrecords HELM_BINARY=$(CURDIR)/bin/helm PROMQL_BINARY=$(CURDIR)/bin/promql \
		PEBBLE_BINARY=$(CURDIR)/bin/pebble LEGO_BINARY=$(CURDIR)/bin/lego $(GOTEST) ./...

## helm: bin/helm and bin/promql (a PromQL parser), which the chart tests use (pinned in test/tools/go.mod)
helm:
	go build -C test/tools -o $(CURDIR)/bin/helm helm.sh/helm/v3/cmd/helm
	go build -C test/tools -o $(CURDIR)/bin/promql ./promql

## acme: bin/pebble (Let's Encrypt's test CA) and bin/lego (an ACME client), which the DNS-01 test uses (pinned in test/acme/go.mod)
acme:
	go build -C test/acme -o $(CURDIR)/bin/ github.com/letsencrypt/pebble/v2/cmd/pebble github.com/go-acme/lego/v4/cmd/lego

## image: dbrecords-image.tar, an OCI image (dbrecords:$(VERSION), GOARCH=$(GOARCH)) built offline (docker load -i dbrecords-image.tar)
image: build/coredns/main.go
	CGO_ENABLED=0 GOARCH=$(GOARCH) go build -trimpath -ldflags "$(LDFLAGS)" -o bin/$(GOARCH)/coredns ./build/coredns
	CGO_ENABLED=0 GOARCH=$(GOARCH) go build -trimpath -ldflags "-s -w" -o bin/$(GOARCH)/dbrecords ./cmd/dbrecords
	go run ./build/image -binary bin/$(GOARCH)/coredns -admin bin/$(GOARCH)/dbrecords -arch $(GOARCH) \
		-out dbrecords-image.tar -tag dbrecords:$(VERSION) -version $(VERSION) -revision $(GITCOMMIT)

## test-scale: the million-row freshness run (opt-in; a few minutes); report in bench/results/
test-scale: build mysql
	COREDNS_BINARY=$(CURDIR)/coredns DBRECORDS_RESULTS=$(CURDIR)/bench/results go test -tags scale -count=1 -timeout 30m -run TestScale -v ./test/

## test-huge: opt-in, in-process (HUGE_NAMES, default 100 million; about 8 GB and 10 minutes at that): the full-read path from a generated table, a re-read, the snapshot file; memory, time and bytes per name
HUGE_NAMES ?= 100000000
test-huge:
	DBRECORDS_HUGE_NAMES=$(HUGE_NAMES) go test -tags huge -count=1 -timeout 60m -run TestHugeLoad -v ./plugin/dbrecords/

## test-topologies: opt-in (a few minutes): a 3-node Galera cluster and an async replica, writers on every node, competing DNS UPDATEs on two Galera nodes
test-topologies: build mysql
	@command -v galera_new_cluster >/dev/null 2>&1 || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y galera-4 rsync)
	@command -v rsync >/dev/null 2>&1 || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y rsync)
	COREDNS_BINARY=$(CURDIR)/coredns go test -tags topologies -count=1 -timeout 20m -run 'TestGalera|TestGaleraCompetingUpdates|TestAsyncReplica' -v ./test/

## test-external-dns: opt-in (builds external-dns, about 3 minutes the first time): external-dns's rfc2136 provider, with its fake source, writes through DNS UPDATE
test-external-dns: build mysql packages bin/external-dns
	COREDNS_BINARY=$(CURDIR)/coredns EXTERNAL_DNS_BINARY=$(CURDIR)/bin/external-dns go test -tags externaldns -count=1 -run TestExternalDNS -v ./test/

bin/external-dns:
	dir=$$(cd / && go mod download -json sigs.k8s.io/external-dns@$(EXTERNAL_DNS) | sed -n 's/^\t"Dir": "\(.*\)",$$/\1/p') && \
		cd "$$dir" && go build -o $(CURDIR)/bin/external-dns .

## bench: dbrecords against file, whoami and PowerDNS with dnsperf (QUICK=1 for a short run)
bench: build mysql
	bash test/bench/prepare.sh
	COREDNS_BINARY=$(CURDIR)/coredns go run ./test/bench

## demo: load sample rows into $(DEMO_DB) and start ./coredns on port 1053 in the background
demo: build mysql stop
	@DSN=$$(go run ./test/dbtool demo $(DEMO_DB)) && \
		DBRECORDS_DSN="$$DSN" nohup ./coredns -conf Corefile > coredns.log 2>&1 & echo $$! > coredns.pid
	@go run ./test/dbtool wait http://127.0.0.1:8181/ready || (cat coredns.log; exit 1)
	@command -v dig >/dev/null 2>&1 || apt-get install -y bind9-dnsutils >/dev/null 2>&1 || \
		(apt-get update >/dev/null && apt-get install -y bind9-dnsutils >/dev/null) || true
	@echo "coredns is running (pid $$(cat coredns.pid), log in coredns.log; stop it with 'make stop'). Try:"
	@echo "  dig @127.0.0.1 -p 1053 www.example.org A"

## stop: stop the coredns started by `make demo`
stop:
	@if [ -f coredns.pid ]; then kill $$(cat coredns.pid) 2>/dev/null || true; rm -f coredns.pid; sleep 0.5; fi

fmt:
	gofmt -l -w build plugin test

## lint: gofmt, go vet and golangci-lint with upstream CoreDNS's .golangci.yml (golangci-lint is installed into bin/)
lint:
	@test -z "$$(gofmt -l build plugin test)" || (gofmt -l build plugin test; exit 1)
	go vet ./...
	test -x bin/golangci-lint || GOBIN=$(CURDIR)/bin go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
	bin/golangci-lint run ./...

clean: stop
	rm -rf coredns dbrecords coredns.log bin dbrecords-image.tar
