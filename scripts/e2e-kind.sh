#!/usr/bin/env bash
# make e2e-kind: the e2e suite against a kind cluster, with the webhook installed from manifests/ as a
# user installs it. Needs docker, kind and kubectl. Cannot run on machines without a Docker engine
# (CI uses `make e2e`, the same suite on a local kube-apiserver + etcd).
#
#   KIND_CLUSTER (sidecar-injector-e2e)  KIND_NODE_IMAGE (kindest/node:v1.34.0)  KEEP_CLUSTER=1 keeps it
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER=${KIND_CLUSTER:-sidecar-injector-e2e}
NODE_IMAGE=${KIND_NODE_IMAGE:-kindest/node:v1.34.0}
# The ref manifests/ and the default config use for the webhook and the istio-init container, so
# the locally built image serves both roles without editing anything.
IMAGE=$(awk '$1=="image:" {print $2; exit}' manifests/deployment.yaml)
APP_NS=bookinfo

for tool in docker kind kubectl node; do
  command -v "$tool" >/dev/null || { echo "make e2e-kind needs $tool on PATH" >&2; exit 1; }
done
# The docker command is only a client: kind needs a running engine behind it.
docker info >/dev/null 2>&1 || { echo "make e2e-kind needs a running Docker engine: 'docker info' fails (is the daemon started, and may this user use it?)" >&2; exit 1; }

if ! kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  kind create cluster --name "$CLUSTER" --image "$NODE_IMAGE" --wait 180s
fi
[ -n "${KEEP_CLUSTER:-}" ] || trap 'kind delete cluster --name "$CLUSTER"' EXIT
KUBECONFIG=$(mktemp)
export KUBECONFIG
kind get kubeconfig --name "$CLUSTER" > "$KUBECONFIG"

echo "--- building and loading $IMAGE"
docker build -t "$IMAGE" .
kind load docker-image "$IMAGE" --name "$CLUSTER"

echo "--- installing from manifests/"
kubectl apply -k manifests/
kubectl -n sidecar-injector rollout status deployment/sidecar-injector --timeout=180s
# Self-managed TLS: the injector patches the caBundle into the webhook configuration itself.
for _ in $(seq 60); do
  bundle=$(kubectl get mutatingwebhookconfiguration sidecar-injector -o jsonpath='{.webhooks[*].clientConfig.caBundle}')
  [ -n "$bundle" ] && break
  sleep 2
done
[ -n "$bundle" ] || { echo "the injector never patched the caBundle" >&2; exit 1; }

echo "--- deploying a Bookinfo-like app into namespace $APP_NS (istio-injection=enabled)"
kubectl create namespace "$APP_NS" --dry-run=client -o yaml | kubectl apply -f -
kubectl label namespace "$APP_NS" istio-injection=enabled --overwrite
kubectl -n "$APP_NS" apply -f test/e2e/kind/bookinfo.yaml

echo "--- the e2e suite against the in-cluster webhook"
make e2e-build
E2E_WEBHOOK=in-cluster npm run e2e

echo "--- waiting for the Bookinfo pods to be Running with the sidecar"
kubectl -n "$APP_NS" wait pod --all --for=jsonpath='{.status.phase}'=Running --timeout=300s
pods=$(kubectl -n "$APP_NS" get pods -o jsonpath='{range .items[*]}{.metadata.name}={.spec.containers[*].name};{end}')
missing=0
IFS=';' read -ra entries <<< "$pods"
for entry in "${entries[@]}"; do
  [ -n "$entry" ] || continue
  case " ${entry#*=} " in
    *" istio-proxy "*) echo "ok   ${entry%%=*}: ${entry#*=}" ;;
    *) echo "FAIL ${entry%%=*}: no istio-proxy (${entry#*=})"; missing=1 ;;
  esac
done
exit "$missing"
