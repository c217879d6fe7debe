# The kind node image, built on the machine without a registry (`python -m ccupgrade.testbed kind
# image` assembles the context): a debootstrapped Debian bookworm with systemd, containerd and runc
# from Debian, kind's own base files from its pinned Go module, and kubeadm, kubelet and kubectl
# built from the pinned k8s.io/kubernetes module. The control-plane, kube-proxy, CoreDNS and pause
# images are imported into the node's containerd afterwards (kubeadm then pulls nothing).
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY kind/usr/local/bin/ /usr/local/bin/
COPY kind/kind/ /kind/
COPY kind/etc/ /etc/
COPY bin/ /usr/bin/
COPY extra/ /
# As kind's base image: only the services a node needs; containerd at the path kind's unit names;
# the CNI plugins where containerd looks; the OCI spec containerd starts from, with kind's hook.
RUN chmod 0755 /kind /kind/bin /kind/bin/* /usr/local/bin/* /usr/bin/kubeadm /usr/bin/kubelet /usr/bin/kubectl \
 && find /lib/systemd/system/sysinit.target.wants/ -name "systemd-tmpfiles-setup.service" -delete \
 && rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \
          /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \
          /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/* \
 && echo "ReadKMsg=no" >> /etc/systemd/journald.conf \
 && ln -sf /usr/lib/systemd/systemd /sbin/init \
 && systemctl enable kubelet.service containerd.service undo-mount-hacks.service \
 && systemctl mask systemd-binfmt.service \
 && mkdir -p /etc/kubernetes/manifests /opt/cni \
 && ln -s /usr/bin/containerd /usr/local/bin/containerd \
 && ln -s /usr/lib/cni /opt/cni/bin \
 && ctr oci spec \
    | jq '.hooks.createContainer[.hooks.createContainer | length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' \
    | jq 'del(.process.rlimits)' > /etc/containerd/cri-base.json
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]
