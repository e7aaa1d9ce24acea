//go:build tools

// Package tools pins the helm CLI that the chart tests run (make helm builds it
// into bin/helm). It is a module of its own so that helm's Kubernetes
// libraries do not mix with CoreDNS's in the main go.mod.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
