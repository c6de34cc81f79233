# A thin layer over the npm scripts and scripts/: every recipe is one command.
.DEFAULT_GOAL := help
SHELL := /bin/bash

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

node_modules: package.json package-lock.json ## Install dependencies (npm ci) when package-lock.json changed
	npm ci --no-audit --no-fund
	@touch node_modules

build: node_modules ## Compile src/ to dist/
	npm run build

lint: node_modules ## Lint with eslint (neostandard + type-aware rules)
	npm run lint

typecheck: node_modules ## Type-check src/, test/ and bench/
	npm run typecheck

unit: node_modules ## Run the tap suite only
	npm test

test: lint typecheck unit ## Lint, type-check and run the tap suite

snap: node_modules ## Regenerate tap snapshots
	npm run snap

clean: ## Remove build output and test caches
	rm -rf dist .tap

.PHONY: help build lint typecheck unit test snap clean
