//go:build tools

// Package controlplane pins the commands that the test bed builds: kube-apiserver and kubectl
// from the Kubernetes release, and etcd at the version that release requires; for the kind node
// image, kubeadm, kube-controller-manager, kube-scheduler, kubelet and kube-proxy from the same release.
package controlplane

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kubeadm"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
