//go:build tools

// Package coredns pins the CoreDNS built into the kind node image (kubeadm's cluster DNS), so the
// node image needs no registry.
package coredns

import (
	_ "github.com/coredns/coredns"
)
