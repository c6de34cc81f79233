# A thin layer over the npm scripts and scripts/: every recipe is one command.
.DEFAULT_GOAL := help
SHELL := /bin/bash

# Node 24 LTS for everything (docs/development.md). Where the machine's node is older, the npm
# registry's `node` package provides Node 24 in .tools/node (git-ignored), and every recipe runs with
# it first on PATH: npm, tsc, tap, the e2e harness and the benchmarks alike.
NODE_VERSION := 24.21.0
NODE_MAJOR := $(firstword $(subst ., ,$(NODE_VERSION)))
NODE_DIR := $(CURDIR)/.tools/node
SYSTEM_NODE_OK := $(shell node -e 'process.exit(+process.versions.node.split(".")[0] >= $(NODE_MAJOR) ? 0 : 1)' 2>/dev/null && echo yes)
# iptables and ip live in sbin, and Go in /usr/local/go/bin, which a non-login shell's PATH may lack.
export PATH := $(PATH):/usr/sbin:/sbin:/usr/local/go/bin
ifeq ($(SYSTEM_NODE_OK),yes)
NODE_TOOL :=
else
NODE_TOOL := $(NODE_DIR)/node_modules/.bin/node
# npm finds its global config next to the node that runs it; keep the machine's (registry, CA file).
ifndef NPM_CONFIG_GLOBALCONFIG
export NPM_CONFIG_GLOBALCONFIG := $(shell npm config get globalconfig 2>/dev/null)
endif
export PATH := $(NODE_DIR)/node_modules/.bin:$(PATH)
endif

help: ## List the targets
	@if [ -t 1 ]; then c=$$'\033[36m'; r=$$'\033[0m'; else c=; r=; fi; \
	awk -v c="$$c" -v r="$$r" 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %s%-14s%s %s\n", c, $$1, r, $$2}' $(MAKEFILE_LIST)

node: $(NODE_TOOL) ## Provide Node 24 (the machine's if new enough, else .tools/node from the npm registry)
	@node --version
$(NODE_DIR)/node_modules/.bin/node:
	@echo "machine's node is $$(node --version 2>/dev/null || echo absent); installing node@$(NODE_VERSION) from the npm registry into .tools/node" >&2
	@# A project of its own in .tools/node, not --prefix: --prefix also moves npm's global config
	@# (<prefix>/etc/npmrc), and with it settings such as the registry's CA file.
	mkdir -p $(NODE_DIR) && echo '{"private": true}' > $(NODE_DIR)/package.json
	cd $(NODE_DIR) && npm install --no-audit --no-fund --no-save node@$(NODE_VERSION)
	@$@ --version >/dev/null

# npm ci writes node_modules/.package-lock.json: installs run again only when the lock file changes
# (not on every package.json edit, which would empty node_modules under running tests).
node_modules: node_modules/.package-lock.json ## Install dependencies (npm ci) when package-lock.json changed
node_modules/.package-lock.json: package-lock.json $(NODE_TOOL)
	npm ci --no-audit --no-fund
	@touch $@

build: node_modules ## Compile src/ to dist/
	npm run build

# A symlink to bin/sidecar-injector (which runs the bundle, dist/bundle/cli.js, with the project's Node) in a directory on PATH.
BINDIR ?= $(if $(filter 0,$(shell id -u)),/usr/local/bin,$(HOME)/.local/bin)
install-cli: build ## Put the `sidecar-injector` command on PATH (BINDIR=/usr/local/bin as root, ~/.local/bin otherwise)
	mkdir -p $(BINDIR)
	ln -sf $(CURDIR)/bin/sidecar-injector $(BINDIR)/sidecar-injector
	@case ":$$PATH:" in *":$(BINDIR):"*) ;; *) echo "note: $(BINDIR) is not on your PATH: export PATH=\"$(BINDIR):\$$PATH\"" >&2 ;; esac
	@$(BINDIR)/sidecar-injector --version

lint: node_modules ## Lint with eslint (neostandard + type-aware rules)
	npm run lint

typecheck: node_modules ## Type-check src/, test/ and bench/
	npm run typecheck

system-deps-test:
	@scripts/system-deps.sh test
system-deps-e2e:
	@scripts/system-deps.sh e2e

unit: node_modules system-deps-test ## Run the tap suite only
	npm test

test: system-deps-test lint typecheck unit ## Lint, type-check and run the tap suite

examples: build ## Regenerate examples/*/injected/ with the inject CLI
	for f in examples/*/*.yaml; do d=$${f%/*}; node dist/cli.js inject -f "$$f" > "$$d/injected/$${f##*/}"; done

golden: node_modules ## Regenerate the golden injected fixtures after a deliberate change (review the diff)
	UPDATE_GOLDEN=1 npx tap test/core/inject.test.ts test/workloads/transform.test.ts

snap: node_modules ## Regenerate tap snapshots
	npm run snap

control-plane: system-deps-e2e ## Build kube-apiserver, etcd and kubectl for e2e into ~/.cache (once; KUBEBUILDER_ASSETS skips it)
	scripts/build-control-plane.sh >/dev/null

kubectl-judge: node_modules system-deps-e2e control-plane ## The real kubectl decodes every input and output of inject (test/yaml/kubectl-judge.test.ts)
	KUBECTL_JUDGE=required npx tap test/yaml/kubectl-judge.test.ts

istio-oracle: ## Build Istio's own injector (istio-oracle, istioctl) from the Go module proxy into ~/.cache (once)
	scripts/build-istio-oracle.sh >/dev/null

conformance: node_modules istio-oracle helm ## Our injector against Istio's own: its goldens, then fixtures, examples, Istio's samples and gateway chart, both paths
	set -o pipefail; $$(scripts/build-istio-oracle.sh --print)/istio-oracle goldens "$$(scripts/build-istio-oracle.sh --module)" | tail -1
	npx tap --timeout=1800 test/conformance/istio.ts test/conformance/proxy-config-schema.ts

conformance-doc: node_modules istio-oracle helm ## Regenerate the generated parts of docs/istio-compatibility.md and README.md from a conformance run
	CONFORMANCE_WRITE_DOC=1 npx tap --timeout=1800 test/conformance/istio.ts

e2e-build: build
	npm run build:e2e

e2e: node_modules $(if $(KUBECONFIG),,system-deps-e2e control-plane) e2e-build ## End-to-end suite against a real API server (local control plane, or KUBECONFIG)
	@if [ -n "$$KUBECONFIG" ]; then echo "make e2e: KUBECONFIG is set ($$KUBECONFIG): running against that cluster instead of a local control plane" >&2; fi
	npm run e2e -- $(E2E_ARGS)

demo: node_modules system-deps-e2e control-plane e2e-build ## Local API server + webhook: inject a Bookinfo-like app, print it, tear down
	npm run demo

helm: ## Build helm v4 from the Go module proxy into ~/.cache (once; HELM_BIN skips it)
	scripts/build-helm.sh >/dev/null

cert-manager: ## Build cert-manager's controllers and CA injector from the Go module proxy into ~/.cache (once)
	scripts/build-cert-manager.sh >/dev/null

# Always the local control plane: the injector runs on 127.0.0.1 and the chart points webhook.url at it.
helm-test: node_modules system-deps-e2e control-plane helm cert-manager e2e-build ## The chart judged by real helm: lint, chart = manifests/, dry-runs, install/upgrade/uninstall, cert-manager loop
	env -u KUBECONFIG npm run e2e -- test/helm/render.test.ts test/helm/install.test.ts test/helm/cert-manager.test.ts

chart-docs: node_modules ## Regenerate the values table of charts/sidecar-injector/README.md from values.yaml
	node test/helpers/chart-values-table.ts --write

e2e-kind: ## The e2e suite on a kind cluster, webhook installed from manifests/ (needs Docker and kind)
	scripts/e2e-kind.sh

# Istio's webhook is the second baseline: built once from the Go module proxy into ~/.cache (needs Go);
# without it the bench runs and says so.
bench: build ## Benchmarks (core, admission vs a baseline and Istio's webhook, cold start, profile) into bench/results/ (~8 min; BENCH_ARGS=--quick)
	@scripts/build-istio-webhook.sh >/dev/null || echo "make bench: Istio's webhook could not be built (above): the bench runs without it" >&2
	npm run bench -- $(BENCH_ARGS)

clean: ## Remove build output and test caches
	rm -rf dist dist-e2e dist-bench .tap

.PHONY: helm cert-manager helm-test chart-docs install-cli system-deps-test system-deps-e2e node help build lint typecheck unit test snap clean examples golden control-plane kubectl-judge e2e-build e2e demo e2e-kind bench istio-oracle conformance conformance-doc
