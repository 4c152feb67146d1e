//! Which repositories an instance patches from: a baseline's `Sources` (alternative patch
//! repositories) for the instance's product, else the operating system's defaults.
//!
//! "Only specified repositories are used for patching" (user guide, alternative source repositories;
//! ledger row 29): when a source of the instance's baseline names the instance's product, packages
//! come from the sources' repositories alone, and an update those repositories do not carry is neither
//! reported nor installed, as if it did not exist. A catalog patch names the repository that serves it
//! (`repository`, a URL); without one it is served by the operating system's default repositories.
//! A source serves a patch when its `Configuration` (a `deb …` line, or a yum `.repo` section) names
//! the patch's repository URL. Snapshot archives (a repository as it was at a time) are not modelled.

use crate::state::{Baseline, Instance, PatchInfo};

/// The product name a `PatchSource`'s `Products` use for `instance`: its platform name without
/// spaces followed by its version (`Ubuntu22.04`, `AmazonLinux2023`).
pub fn product_of(instance: &Instance) -> String {
    format!(
        "{}{}",
        instance.platform_name.replace(' ', ""),
        instance.platform_version
    )
}

/// The `Configuration` of each of `baseline`'s sources that names `product`.
fn configurations<'a>(baseline: &'a Baseline, product: &str) -> Vec<&'a str> {
    baseline
        .sources
        .iter()
        .filter(|source| {
            source["Products"]
                .as_array()
                .is_some_and(|products| products.iter().any(|p| p.as_str() == Some(product)))
        })
        .filter_map(|source| source["Configuration"].as_str())
        .collect()
}

/// Whether an instance of `product` patching with `baseline` can download `patch` at all.
pub fn served(baseline: Option<&Baseline>, product: &str, patch: &PatchInfo) -> bool {
    let configured = baseline
        .map(|b| configurations(b, product))
        .unwrap_or_default();
    match (&patch.repository, configured.is_empty()) {
        // The operating system's own repositories, which the sources replace when they apply.
        (None, defaults) => defaults,
        (Some(repository), false) => configured
            .iter()
            .any(|configuration| configuration.contains(repository.as_str())),
        // A repository the instance is not configured for.
        (Some(_), true) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn patch(repository: Option<&str>) -> PatchInfo {
        PatchInfo {
            id: "openssl.amd64".into(),
            title: "openssl.amd64:3.0.2-0ubuntu1.18".into(),
            classification: "Security".into(),
            severity: "Important".into(),
            compliance_level: "HIGH".into(),
            cve_ids: None,
            release_date: None,
            repository: repository.map(str::to_owned),
        }
    }

    fn baseline(sources: Vec<Value>) -> Baseline {
        let mut baseline: Baseline = serde_json::from_value(serde_json::json!({
            "id": "pb-0c10000000000000a", "name": "b", "operating_system": "UBUNTU"
        }))
        .unwrap();
        baseline.sources = sources;
        baseline
    }

    /// A `PatchSource` as the API takes it.
    fn source(name: &str, products: &[&str], configuration: &str) -> Value {
        serde_json::json!({"Name": name, "Products": products, "Configuration": configuration})
    }

    const MIRROR: &str = "http://mirror.example.com/ubuntu";

    #[test]
    fn without_sources_only_the_default_repositories_serve() {
        let plain = baseline(Vec::new());
        assert!(served(Some(&plain), "Ubuntu22.04", &patch(None)));
        assert!(served(None, "Ubuntu22.04", &patch(None)));
        assert!(!served(Some(&plain), "Ubuntu22.04", &patch(Some(MIRROR))));
    }

    #[test]
    fn sources_for_the_product_replace_the_defaults() {
        let mirrored = baseline(vec![source(
            "mirror",
            &["Ubuntu22.04"],
            &format!("deb {MIRROR} jammy-security main"),
        )]);
        assert!(served(Some(&mirrored), "Ubuntu22.04", &patch(Some(MIRROR))));
        assert!(!served(Some(&mirrored), "Ubuntu22.04", &patch(None)));
        assert!(!served(
            Some(&mirrored),
            "Ubuntu22.04",
            &patch(Some("http://other.example.com/ubuntu"))
        ));
    }

    #[test]
    fn sources_for_another_product_change_nothing() {
        let mirrored = baseline(vec![source(
            "mirror",
            &["Ubuntu20.04"],
            &format!("deb {MIRROR} focal-security main"),
        )]);
        assert!(served(Some(&mirrored), "Ubuntu22.04", &patch(None)));
        assert!(!served(
            Some(&mirrored),
            "Ubuntu22.04",
            &patch(Some(MIRROR))
        ));
    }
}
