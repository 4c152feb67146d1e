# `sam build` runs `make build-<LogicalId>` for each function (template.yaml: BuildMethod: makefile;
# samconfig.toml: build_in_source, so the checkout is not copied first) with ARTIFACTS_DIR set.
# Each target builds all four functions in one `cargo lambda build`: their fat-LTO links then run
# side by side on every core, where one build per function links them one after another (cargo's
# lock lets one build run at a time). The first target does the work; the others find it done.
#
#   LAMBDA_ARCH=--x86-64 sam build     builds x86_64 instead of arm64 (the template must say so too)

LAMBDA_ARCH ?= --arm64
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
PACKAGES := -p patch-group-tagger -p install-alerts -p compliance-snapshot -p patch-gate

.PHONY: functions build-PatchGroupTaggerFunction build-InstallAlertsFunction \
	build-ComplianceSnapshotFunction build-PatchGateFunction

functions:
	cargo lambda build --release $(LAMBDA_ARCH) $(PACKAGES)

build-PatchGroupTaggerFunction: functions
	cp $(TARGET_DIR)/lambda/patch-group-tagger/bootstrap $(ARTIFACTS_DIR)/bootstrap

build-InstallAlertsFunction: functions
	cp $(TARGET_DIR)/lambda/install-alerts/bootstrap $(ARTIFACTS_DIR)/bootstrap

build-ComplianceSnapshotFunction: functions
	cp $(TARGET_DIR)/lambda/compliance-snapshot/bootstrap $(ARTIFACTS_DIR)/bootstrap

build-PatchGateFunction: functions
	cp $(TARGET_DIR)/lambda/patch-gate/bootstrap $(ARTIFACTS_DIR)/bootstrap
