"""Packages patchpilot for an AWS Organization: each function's built `bootstrap` zipped once, uploaded
to the code bucket of every Region the StackSet targets, and the processed template (no SAM transform:
service-managed StackSets refuse macros) written beside them and uploaded for `--template-url`.

    python tooling/org_package.py --artifacts .aws-sam/build --bucket-prefix PREFIX \\
        --regions eu-west-1,us-east-1 [--out dist/org]

Run through `tooling/org-package.sh`, which builds first. Lambda reads a function's code only from a
bucket in the function's Region, so every Region gets its own copy (`templates/code-bucket.yaml`
makes the buckets). Keys are named by content: a StackSet update changes a function's code exactly
when its binary changed, and an object already in a bucket is not uploaded again. Credentials,
endpoints (`AWS_ENDPOINT_URL`) and retries are boto3's.
"""

import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import boto3
from botocore.exceptions import ClientError

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_KEY_PREFIX = "patchpilot/templates"


class PackageError(Exception):
    """Something the packaging cannot get past, said in a line the operator can act on."""


def functions():
    """(logical id, binary) of every function in template.yaml, as the SAM build names them."""
    from samcli.yamlhelper import yaml_parse

    template = yaml_parse((ROOT / "template.yaml").read_text())
    return [
        (logical_id, resource["Metadata"]["BuildProperties"]["Binary"])
        for logical_id, resource in template["Resources"].items()
        if resource.get("Type") == "AWS::Serverless::Function"
    ]


def zipped(bootstrap: Path) -> bytes:
    """`bootstrap` as Lambda expects it, zipped byte-for-byte the same every time for the same binary
    (fixed timestamp, executable mode), so its key names its content."""
    data = bootstrap.read_bytes()
    info = zipfile.ZipInfo("bootstrap", date_time=(1980, 1, 1, 0, 0, 0))
    info.external_attr = (0o100755 & 0xFFFF) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(info, data, compresslevel=9)
    return buffer.getvalue()


def key_for(binary: str, archive: bytes) -> str:
    return f"patchpilot/{binary}-{hashlib.sha256(archive).hexdigest()[:20]}.zip"


def bucket_for(prefix: str, region: str) -> str:
    return f"{prefix}-{region}"


def upload(s3, bucket: str, region: str, key: str, body: bytes) -> bool:
    """Puts `body` at `key` unless it is there already; returns whether it was uploaded."""
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return False
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "")
        if code == "NoSuchBucket" or (code == "404" and not bucket_exists(s3, bucket)):
            raise PackageError(
                f"no code bucket {bucket} in {region}: deploy templates/code-bucket.yaml there first"
            ) from err
        if code not in ("404", "NoSuchKey", "NotFound"):
            raise PackageError(f"s3://{bucket}/{key} in {region}: {code}: {err}") from err
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "")
        raise PackageError(f"uploading s3://{bucket}/{key} in {region}: {code}: {err}") from err
    return True


def bucket_exists(s3, bucket: str) -> bool:
    try:
        s3.head_bucket(Bucket=bucket)
        return True
    except ClientError:
        return False


def processed_template(out: Path, keys: dict) -> Path:
    """translate.py --org with the uploaded keys: the template every stack instance receives."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "tooling/template/translate.py"), str(out), "--org", json.dumps(keys)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise PackageError(f"translate.py --org failed: {result.stderr.strip()}")
    return out / "org.json"


def package(artifacts: Path, prefix: str, regions: list, out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    archives = {}
    for logical_id, binary in functions():
        bootstrap = artifacts / logical_id / "bootstrap"
        if not bootstrap.is_file():
            raise PackageError(f"{bootstrap} is missing: build first (tooling/org-package.sh does)")
        archive = zipped(bootstrap)
        key = key_for(binary, archive)
        (out / Path(key).name).write_bytes(archive)
        archives[binary] = (key, archive)
    template = processed_template(out, {binary: key for binary, (key, _) in archives.items()})
    # Minified: the template is over CloudFormation's 51,200-byte limit for a body passed inline, so
    # StackSets get it by URL (up to 1 MB), named by content as the code is.
    body = json.dumps(json.loads(template.read_text()), separators=(",", ":"), sort_keys=True).encode()
    template_key = f"{TEMPLATE_KEY_PREFIX}/org-{hashlib.sha256(body).hexdigest()[:20]}.json"
    report = {"template": str(template), "template_key": template_key, "regions": {}}
    for region in regions:
        s3 = boto3.client("s3", region_name=region)
        bucket = bucket_for(prefix, region)
        uploaded = []
        for binary, (key, archive) in sorted(archives.items()):
            if upload(s3, bucket, region, key, archive):
                uploaded.append(key)
        if upload(s3, bucket, region, template_key, body):
            uploaded.append(template_key)
        report["regions"][region] = {"bucket": bucket, "uploaded": uploaded}
    report["code"] = {binary: key for binary, (key, _) in sorted(archives.items())}
    first = regions[0]
    report["template_url"] = (
        f"https://{bucket_for(prefix, first)}.s3.{first}.amazonaws.com/{template_key}"
    )
    return report


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifacts", type=Path, required=True, help="the SAM build's directory (<LogicalId>/bootstrap)")
    parser.add_argument("--bucket-prefix", required=True, help="code buckets are <prefix>-<Region>")
    parser.add_argument("--regions", required=True, help="comma-separated Regions the StackSet targets")
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "org")
    args = parser.parse_args()
    regions = [r.strip() for r in args.regions.split(",") if r.strip()]
    if not regions:
        parser.error("--regions names no Region")
    os.environ.setdefault("AWS_DEFAULT_REGION", regions[0])
    try:
        report = package(args.artifacts, args.bucket_prefix, regions, args.out)
    except PackageError as err:
        print(f"org_package: {err}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
