# `sam build` runs `make build-<LogicalId>` for each function (template.yaml: BuildMethod: makefile;
# samconfig.toml: build_in_source, so the checkout is not copied first) with ARTIFACTS_DIR set.
# Each target builds all four functions in one `cargo lambda build`: their fat-LTO links then run
# side by side on every core, where one build per function links them one after another (cargo's
# lock lets one build run at a time). The first target does the work; the others find it done.
# SAM runs the targets in parallel, and cargo lambda moves each binary into target/lambda/ after
# the build: a lock makes each build-and-copy whole, so no target copies a binary while another moves it.
#
#   LAMBDA_ARCH=--x86-64 sam build     builds x86_64 instead of arm64 (the template must say so too)

LAMBDA_ARCH ?= --arm64
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
PACKAGES := -p patch-group-tagger -p install-alerts -p compliance-snapshot -p patch-gate
LOCK := $(TARGET_DIR)/.lambda-build.lock

# $(1): the function's binary.
define build_and_copy
	mkdir -p $(TARGET_DIR)
	flock $(LOCK) sh -c 'cargo lambda build --release $(LAMBDA_ARCH) $(PACKAGES) && cp $(TARGET_DIR)/lambda/$(1)/bootstrap $(ARTIFACTS_DIR)/bootstrap'
endef

.PHONY: build-PatchGroupTaggerFunction build-InstallAlertsFunction \
	build-ComplianceSnapshotFunction build-PatchGateFunction

build-PatchGroupTaggerFunction:
	$(call build_and_copy,patch-group-tagger)

build-InstallAlertsFunction:
	$(call build_and_copy,install-alerts)

build-ComplianceSnapshotFunction:
	$(call build_and_copy,compliance-snapshot)

build-PatchGateFunction:
	$(call build_and_copy,patch-gate)
