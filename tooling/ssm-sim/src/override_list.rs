//! `AWS-RunPatchBaseline`'s `InstallOverrideList` (user guide, "AWS-RunPatchBaseline", parameter
//! `InstallOverrideList`): a YAML document `patches:` of `id` (required; Linux `name.arch`, Windows a
//! KB id) and `title` (optional; Linux the version, `name.arch:epoch:version-release` or apt
//! `name.arch:version`) entries, either with `*` wildcards. An Install given one installs the
//! listed patches instead of the baseline's approved ones; Scan ignores it (ledger row 27).

use serde::Deserialize;

/// One entry of the list.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Entry {
    pub id: String,
    #[serde(default)]
    pub title: Option<String>,
}

#[derive(Deserialize)]
struct Document {
    patches: Vec<Entry>,
}

/// The entries of a list, or why the document could not be read (the patching document fails).
pub fn parse(text: &str) -> Result<Vec<Entry>, String> {
    serde_yaml::from_str::<Document>(text)
        .map(|document| document.patches)
        .map_err(|err| format!("the install override list is not a valid patch list: {err}"))
}

/// Whether `pattern` (with `*` matching any run of characters) matches all of `text`.
pub fn matches(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// What the list says of an available patch `id` at `title`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listed {
    /// An entry names this id and this version (or no version): it is installed.
    Install,
    /// Entries name this id, none this version: the version they want is not the one available.
    OtherVersion(String),
    /// No entry names this id: not installed.
    NotListed,
}

/// What `entries` say of patch `id` at `title`.
pub fn listed(entries: &[Entry], id: &str, title: &str) -> Listed {
    let named: Vec<&Entry> = entries.iter().filter(|e| matches(&e.id, id)).collect();
    if named.is_empty() {
        return Listed::NotListed;
    }
    if named
        .iter()
        .any(|e| e.title.as_deref().is_none_or(|t| matches(t, title)))
    {
        return Listed::Install;
    }
    let wanted: Vec<&str> = named.iter().filter_map(|e| e.title.as_deref()).collect();
    Listed::OtherVersion(wanted.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_runs_of_characters_and_nothing_else_is_special() {
        assert!(matches("bind*.x86_64", "bind-libs.x86_64"));
        assert!(matches(
            "*32:9.8.2-0.*.rc1.57.amzn1",
            "bind.x86_64:32:9.8.2-0.62.rc1.57.amzn1"
        ));
        assert!(matches("kernel.x86_64", "kernel.x86_64"));
        assert!(!matches("kernel.x86_64", "kernel.x86_64x"));
        assert!(!matches("dhcp*", "dhclient.x86_64"));
        assert!(matches("*", ""));
        assert!(!matches("a*b*c", "acb"));
    }

    #[test]
    fn the_users_guide_sample_reads_and_decides_per_version() {
        let entries = parse(
            "patches:\n    -\n        id: 'kernel.x86_64'\n    -\n        id: 'bind*.x86_64'\n        title: '32:9.8.2-0.62.rc1.57.amzn1'\n",
        )
        .unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(
            listed(&entries, "kernel.x86_64", "kernel.x86_64:0:6.1-1"),
            Listed::Install
        );
        assert_eq!(
            listed(
                &entries,
                "bind.x86_64",
                "bind.x86_64:32:9.8.2-0.63.rc1.57.amzn1"
            ),
            Listed::OtherVersion("32:9.8.2-0.62.rc1.57.amzn1".to_owned())
        );
        assert_eq!(
            listed(&entries, "curl.x86_64", "curl.x86_64:0:8-1"),
            Listed::NotListed
        );
        assert!(parse("patches: nope").is_err());
    }
}
