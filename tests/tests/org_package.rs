//! Org-wide packaging (README "Org-wide with StackSets"): the processed template a service-managed
//! StackSet receives, and `tooling/org_package.py` uploading each function once per Region to that
//! Region's code bucket (LocalStack S3), named by content.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use patchpilot_test_support::template::Template;
use patchpilot_test_support::{LocalAws, installed_tool, unique_name, workspace_root};
use serde_json::{Value, json};

fn python() -> PathBuf {
    installed_tool("venv/bin/python").unwrap_or_else(|err| panic!("{err}"))
}

fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|err| panic!("cannot run {command:?}: {err}"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique_name(name));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// translate.py into `out` with `args`; the one JSON file it wrote.
fn translate(out: &Path, args: &[&str]) -> Value {
    let output = run(Command::new(python())
        .arg(workspace_root().join("tooling/template/translate.py"))
        .arg(out)
        .args(args));
    assert!(
        output.status.success(),
        "translate.py {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let path = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// (logical id, binary) of every function in template.yaml.
fn functions() -> Vec<(String, String)> {
    let template = Template::load();
    template
        .resources_of_type("AWS::Serverless::Function")
        .into_iter()
        .map(|id| {
            let binary = template.resource(&id)["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .unwrap_or_else(|| panic!("{id} names no binary"))
                .to_owned();
            (id, binary)
        })
        .collect()
}

/// The template without its parameters and without the functions' code: what must not depend on
/// how or for whom it was translated.
fn without_parameters_and_code(template: &Value) -> Value {
    let mut template = template.clone();
    template.as_object_mut().unwrap().remove("Parameters");
    for resource in template["Resources"].as_object_mut().unwrap().values_mut() {
        if resource["Type"] == "AWS::Lambda::Function" {
            resource["Properties"]
                .as_object_mut()
                .unwrap()
                .remove("Code");
        }
    }
    template
}

#[test]
fn the_processed_template_is_the_sam_translation_every_stack_instance_can_take() {
    let out = scratch("org-template");
    let org = translate(&out, &["--org"]);
    let text = org.to_string();
    assert!(org.get("Transform").is_none() && !text.contains("Fn::Transform"));
    assert!(
        !text.contains("AWS::Serverless::"),
        "a SAM resource type is left: StackSets with service-managed permissions refuse macros"
    );
    assert!(
        !text.contains("eu-west-1") && !text.contains("111122223333"),
        "the transform's pseudo parameters must not be baked in: every account and Region takes this template"
    );
    assert_eq!(org["Parameters"]["CodeBucketPrefix"]["Type"], "String");
    let mut code_of = std::collections::BTreeMap::new();
    for (logical_id, binary) in functions() {
        let code = &org["Resources"][&logical_id]["Properties"]["Code"];
        assert_eq!(
            code,
            &json!({"S3Bucket": {"Fn::Sub": "${CodeBucketPrefix}-${AWS::Region}"},
                    "S3Key": format!("patchpilot/{binary}.zip")}),
            "{logical_id}'s code must come from its own Region's bucket"
        );
        code_of.insert(binary, code.clone());
    }
    assert_eq!(code_of.len(), 4, "four functions");
    // The same roles, rules, alarms and conditions as the SAM translation the patch week's IAM check
    // and cfn-lint see, for any parameter set: the transform's output depends on no parameter.
    for set in ["minimal", "staging-elsewhere", "eight-baselines"] {
        let translated = translate(&out, &[set]);
        assert_eq!(
            without_parameters_and_code(&org),
            without_parameters_and_code(&translated),
            "the processed template differs from the {set} translation beyond its parameters and code"
        );
    }
    // Keys given by the packager are used as given.
    let keyed = translate(
        &out,
        &[
            "--org",
            r#"{"patch-gate": "patchpilot/patch-gate-0123abcd.zip"}"#,
        ],
    );
    assert_eq!(
        keyed["Resources"]["PatchGateFunction"]["Properties"]["Code"]["S3Key"],
        "patchpilot/patch-gate-0123abcd.zip"
    );
    std::fs::remove_dir_all(out).ok();
}

/// A bucket in `region`, in LocalStack.
async fn bucket(aws: &LocalAws, name: &str, region: &str) -> aws_sdk_s3::Client {
    let sdk = patchpilot_test_support::sdk_config(&aws.localstack_url)
        .await
        .into_builder()
        .region(aws_config::Region::new(region.to_owned()))
        .build();
    let s3 = patch_gate::handler::s3_client(&sdk);
    let mut create = s3.create_bucket().bucket(name);
    if region != "us-east-1" {
        create = create.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region))
                .build(),
        );
    }
    create
        .send()
        .await
        .unwrap_or_else(|err| panic!("CreateBucket {name}: {err:?}"));
    s3
}

/// org_package.py with fake builds from `artifacts`, against LocalStack.
fn package(aws: &LocalAws, artifacts: &Path, prefix: &str, regions: &str, out: &Path) -> Output {
    run(Command::new(python())
        .arg(workspace_root().join("tooling/org_package.py"))
        .args(["--artifacts".as_ref(), artifacts.as_os_str()])
        .args(["--bucket-prefix", prefix, "--regions", regions])
        .args(["--out".as_ref(), out.as_os_str()])
        .env("AWS_ENDPOINT_URL", &aws.localstack_url)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env_remove("AWS_PROFILE"))
}

fn report(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "org_package.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn write_builds(artifacts: &Path, version: &str) {
    for (logical_id, binary) in functions() {
        let dir = artifacts.join(&logical_id);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("bootstrap"),
            format!("{binary} built {version}\n").repeat(100),
        )
        .unwrap();
    }
}

/// What a zip holds at `bootstrap`: its mode and its text (read by Python's zipfile, as Lambda
/// unpacks it: one executable file named bootstrap).
fn unzipped(archive: &[u8], scratch_dir: &Path) -> (String, String) {
    let path = scratch_dir.join("check.zip");
    std::fs::write(&path, archive).unwrap();
    let output = run(Command::new(python()).args([
        "-c",
        "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nassert z.namelist() == ['bootstrap'], z.namelist()\ni = z.getinfo('bootstrap')\nprint(oct(i.external_attr >> 16))\nsys.stdout.write(z.read('bootstrap').decode())",
        path.to_str().unwrap(),
    ]));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let (mode, content) = text.split_once('\n').unwrap();
    (mode.to_owned(), content.to_owned())
}

async fn object(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    s3.get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|err| panic!("s3://{bucket}/{key}: {err:?}"))
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes()
        .to_vec()
}

#[tokio::test]
async fn packaging_puts_each_function_once_in_every_regions_bucket_named_by_content() {
    let aws = LocalAws::shared();
    let prefix = unique_name("pp-code").to_lowercase();
    let regions = ["eu-west-1", "us-east-1"];
    let mut clients = Vec::new();
    for region in regions {
        clients.push(bucket(aws, &format!("{prefix}-{region}"), region).await);
    }
    let work = scratch("org-package");
    let artifacts = work.join("build");
    write_builds(&artifacts, "v1");
    let out = work.join("dist");

    let first = report(&package(aws, &artifacts, &prefix, &regions.join(","), &out));
    let template: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("org.json")).unwrap()).unwrap();
    for (region, s3) in regions.iter().zip(&clients) {
        let bucket = format!("{prefix}-{region}");
        let uploaded = first["regions"][region]["uploaded"].as_array().unwrap();
        assert_eq!(
            uploaded.len(),
            5,
            "four functions and the template in {region}"
        );
        for (logical_id, binary) in functions() {
            let key = template["Resources"][&logical_id]["Properties"]["Code"]["S3Key"]
                .as_str()
                .unwrap();
            assert_eq!(first["code"][&binary], key);
            assert!(key.starts_with(&format!("patchpilot/{binary}-")) && key.ends_with(".zip"));
            let (mode, content) = unzipped(&object(s3, &bucket, key).await, &work);
            assert_eq!(mode, "0o100755", "{key}: bootstrap must be executable");
            assert_eq!(content, format!("{binary} built v1\n").repeat(100));
        }
        // The template StackSets read by URL is the processed one, minified.
        let key = first["template_key"].as_str().unwrap();
        let stored: Value = serde_json::from_slice(&object(s3, &bucket, key).await).unwrap();
        assert_eq!(stored, template);
    }
    assert_eq!(
        first["template_url"],
        format!(
            "https://{prefix}-eu-west-1.s3.eu-west-1.amazonaws.com/{}",
            first["template_key"].as_str().unwrap()
        )
    );

    // Again, unchanged: the same keys, nothing uploaded.
    let again = report(&package(aws, &artifacts, &prefix, &regions.join(","), &out));
    assert_eq!(again["code"], first["code"]);
    for region in regions {
        assert_eq!(again["regions"][region]["uploaded"], json!([]), "{region}");
    }

    // One function rebuilt: only its key changes, and only it (and the template naming it) goes up.
    let (gate_id, _) = functions()
        .into_iter()
        .find(|(_, binary)| binary == "patch-gate")
        .unwrap();
    std::fs::write(artifacts.join(gate_id).join("bootstrap"), "patch-gate v2\n").unwrap();
    let changed = report(&package(aws, &artifacts, &prefix, &regions.join(","), &out));
    for (_, binary) in functions() {
        assert_eq!(
            changed["code"][&binary] != first["code"][&binary],
            binary == "patch-gate",
            "{binary}'s key"
        );
    }
    for region in regions {
        assert_eq!(
            changed["regions"][region]["uploaded"],
            json!([changed["code"]["patch-gate"], changed["template_key"]]),
            "{region}"
        );
    }
    std::fs::remove_dir_all(work).ok();
}

#[tokio::test]
async fn a_region_without_its_code_bucket_is_named_and_fails_the_packaging() {
    let aws = LocalAws::shared();
    let prefix = unique_name("pp-code").to_lowercase();
    bucket(aws, &format!("{prefix}-eu-west-1"), "eu-west-1").await;
    let work = scratch("org-package-missing");
    write_builds(&work.join("build"), "v1");
    let output = package(
        aws,
        &work.join("build"),
        &prefix,
        "eu-west-1,eu-central-1",
        &work.join("dist"),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "no code bucket {prefix}-eu-central-1 in eu-central-1"
        )) && stderr.contains("templates/code-bucket.yaml"),
        "{stderr}"
    );
    std::fs::remove_dir_all(work).ok();
}

#[test]
fn a_missing_build_is_named() {
    let work = scratch("org-package-unbuilt");
    let output = run(Command::new(python())
        .arg(workspace_root().join("tooling/org_package.py"))
        .args(["--artifacts".as_ref(), work.as_os_str()])
        .args(["--bucket-prefix", "acme-code", "--regions", "eu-west-1"])
        .args(["--out".as_ref(), work.join("dist").as_os_str()]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("bootstrap is missing: build first"),
        "{stderr}"
    );
    std::fs::remove_dir_all(work).ok();
}

/// Code keys that are not JSON, not an object of strings, or name no function of the template are
/// refused by name before anything is written (a typo would otherwise ship a template whose stack
/// instances look for code under a key nobody uploaded).
#[test]
fn malformed_code_keys_are_refused_with_what_is_wrong() {
    let out = scratch("translate-bad-keys");
    for (keys, says) in [
        ("nope", "KEYS_JSON is not JSON"),
        ("[\"patch-gate\"]", "KEYS_JSON must be an object"),
        ("{\"patch-gate\": 7}", "KEYS_JSON must be an object"),
        (
            "{\"patch-gat\": \"k.zip\"}",
            "names no function of the template: ['patch-gat']",
        ),
    ] {
        let output = run(Command::new(python())
            .arg(workspace_root().join("tooling/template/translate.py"))
            .arg(&out)
            .args(["--org", keys]));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{keys}: {stderr}");
        assert!(stderr.contains(says), "{keys}: {stderr}");
        assert!(!out.join("org.json").exists(), "{keys}: nothing written");
    }
    std::fs::remove_dir_all(out).ok();
}
