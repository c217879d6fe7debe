//go:build tools

// Package kind pins the kind command the in-cluster tests and `make demo-kind` use.
package kind

import (
	_ "sigs.k8s.io/kind"
)
