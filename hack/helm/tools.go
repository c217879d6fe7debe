//go:build tools

// Package helm pins the helm command that the chart tests run (see operator/ccupgrade/testbed/tools.py).
package helm

import (
	_ "helm.sh/helm/v4/cmd/helm"
)
