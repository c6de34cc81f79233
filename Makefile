# A thin layer over the npm scripts and scripts/: every recipe is one command.
.DEFAULT_GOAL := help
SHELL := /bin/bash

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# npm ci writes node_modules/.package-lock.json: installs run again only when the lock file changes
# (not on every package.json edit, which would empty node_modules under running tests).
node_modules: node_modules/.package-lock.json ## Install dependencies (npm ci) when package-lock.json changed
node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

build: node_modules ## Compile src/ to dist/
	npm run build

lint: node_modules ## Lint with eslint (neostandard + type-aware rules)
	npm run lint

typecheck: node_modules ## Type-check src/, test/ and bench/
	npm run typecheck

unit: node_modules ## Run the tap suite only
	npm test

test: lint typecheck unit ## Lint, type-check and run the tap suite

examples: build ## Regenerate examples/bookinfo/injected/ with the inject CLI
	for f in examples/bookinfo/*.yaml; do node dist/cli.js inject -f "$$f" > "examples/bookinfo/injected/$${f##*/}"; done

golden: node_modules ## Regenerate the golden injected fixtures after a deliberate change (review the diff)
	UPDATE_GOLDEN=1 npx tap test/core/inject.test.ts test/core/manifests.test.ts

snap: node_modules ## Regenerate tap snapshots
	npm run snap

control-plane: ## Build kube-apiserver, etcd and kubectl for e2e into ~/.cache (once; KUBEBUILDER_ASSETS skips it)
	scripts/build-control-plane.sh >/dev/null

e2e-build: build
	npm run build:e2e

e2e: node_modules $(if $(KUBECONFIG),,control-plane) e2e-build ## End-to-end suite against a real API server (local control plane, or KUBECONFIG)
	npm run e2e -- $(E2E_ARGS)

demo: node_modules control-plane e2e-build ## Local API server + webhook: inject a Bookinfo-like app, print it, tear down
	npm run demo

e2e-kind: ## The e2e suite on a kind cluster, webhook installed from manifests/ (needs Docker and kind)
	scripts/e2e-kind.sh

bench: build ## Benchmarks (core, admission vs a baseline, cold start, profile) into bench/results/ (~6 min; BENCH_ARGS=--quick)
	npm run bench -- $(BENCH_ARGS)

clean: ## Remove build output and test caches
	rm -rf dist dist-e2e dist-bench .tap

.PHONY: help build lint typecheck unit test snap clean examples golden control-plane e2e-build e2e demo e2e-kind bench
