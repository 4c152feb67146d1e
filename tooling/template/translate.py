"""Translates template.yaml the way CloudFormation receives it: the SAM transform (samtranslator, the
version aws-sam-cli pins) applied for each parameter set in parameter-sets.json. Each translated
template is written as JSON with the set's values as the parameters' defaults, so cfn-lint (and the
IAM test) see the values a deployment would have.

    python translate.py OUT_DIR [SET ...]                  # every set when none is named
    python translate.py OUT_DIR --parameters NAME JSON     # one set given as a JSON object
    python translate.py OUT_DIR --org [KEYS_JSON]          # the processed template for StackSets

`--org` writes org.json: the template as a service-managed StackSet must receive it (StackSets with
service-managed permissions refuse macros, the AWS::Serverless transform included), with the
parameters' declared defaults (every stack instance passes its own), a `CodeBucketPrefix` parameter,
and each function's code at `${CodeBucketPrefix}-${AWS::Region}` (Lambda reads code only from a bucket
in the function's Region), under the key KEYS_JSON gives for its binary (`tooling/org_package.py`
passes the uploaded, content-named keys; `patchpilot/<binary>.zip` otherwise).
"""

import json
import os
import sys
from pathlib import Path

from samcli.yamlhelper import yaml_parse
from samtranslator.translator.transform import transform

ROOT = Path(__file__).resolve().parents[2]


class NoManagedPolicies:
    """The template names managed policies by ARN only, so no IAM lookup is needed (or possible)."""

    def load(self):
        return {}


PSEUDO_REGION = "eu-west-1"
PSEUDO_ACCOUNT = "111122223333"

CODE_BUCKET_PREFIX = {
    "Type": "String",
    "Description": "StackSets (tooling/org_package.py): the code buckets' name without its Region; "
    "each stack instance reads its functions' code from <prefix>-<its Region>.",
    "AllowedPattern": "^[a-z0-9][a-z0-9.-]{1,40}[a-z0-9]$",
    "ConstraintDescription": "an S3 bucket name's start: lowercase letters, digits, dots and hyphens; "
    "room left for -<Region>",
}


def binary_of(resource):
    return resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary", "function")


def translate(template, values, code=None):
    # Pseudo parameters as a deployment in eu-west-1 would have them.
    parameters = {
        "AWS::Region": PSEUDO_REGION,
        "AWS::AccountId": PSEUDO_ACCOUNT,
        "AWS::Partition": "aws",
        "AWS::StackName": "patchpilot",
        "AWS::StackId": "arn:aws:cloudformation:eu-west-1:111122223333:stack/patchpilot/0",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::NotificationARNs": [],
    }
    for name, declaration in template.get("Parameters", {}).items():
        if name in values:
            parameters[name] = values[name]
        elif "Default" in declaration:
            parameters[name] = declaration["Default"]
    unknown = sorted(set(values) - set(template.get("Parameters", {})))
    if unknown:
        raise SystemExit(f"parameter set names parameters the template does not declare: {unknown}")
    fragment = json.loads(json.dumps(template))
    # As `sam package` does: local code becomes an S3 artifact before CloudFormation sees it; for a
    # StackSet, in the stack instance's own Region.
    for resource in fragment.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            name = binary_of(resource)
            if code is None:
                resource["Properties"]["CodeUri"] = f"s3://patchpilot-artifacts/{name}.zip"
            else:
                resource["Properties"]["CodeUri"] = {
                    "Bucket": {"Fn::Sub": "${CodeBucketPrefix}-${AWS::Region}"},
                    "Key": code.get(name, f"patchpilot/{name}.zip"),
                }
    translated = transform(fragment, parameters, NoManagedPolicies())
    for name, value in values.items():
        translated["Parameters"][name]["Default"] = value
    return translated


def org(template, code):
    """The processed template for a service-managed StackSet: no transform left, nothing of the
    pseudo parameters the transform was given baked in."""
    template = json.loads(json.dumps(template))
    template.setdefault("Parameters", {})["CodeBucketPrefix"] = CODE_BUCKET_PREFIX
    binaries = {
        binary_of(resource)
        for resource in template.get("Resources", {}).values()
        if resource.get("Type") == "AWS::Serverless::Function"
    }
    unknown = sorted(set(code) - binaries)
    if unknown:
        raise SystemExit(f"KEYS_JSON names no function of the template: {unknown}; the functions: {sorted(binaries)}")
    processed = translate(template, {}, code)
    text = json.dumps(processed)
    if "Transform" in processed or "Fn::Transform" in text:
        raise SystemExit("the processed template still names a transform; StackSets would refuse it")
    for baked in (PSEUDO_REGION, PSEUDO_ACCOUNT):
        if baked in text:
            raise SystemExit(f"the processed template has {baked} baked in; every stack instance would get it")
    return processed


def code_keys(text):
    """KEYS_JSON: a JSON object from a function's binary name to its zip's S3 key."""
    try:
        keys = json.loads(text)
    except json.JSONDecodeError as err:
        raise SystemExit(f"KEYS_JSON is not JSON ({err}): {text!r}")
    if not isinstance(keys, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in keys.items()
    ):
        raise SystemExit(
            'KEYS_JSON must be an object of function binary to S3 key, e.g. '
            '{"patch-gate": "patchpilot/patch-gate-<sha256>.zip"}; got ' + repr(text)
        )
    return keys


def main():
    # The transform asks boto for the Region of the pseudo parameters; no account is contacted.
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    template = yaml_parse((ROOT / "template.yaml").read_text())
    sets = json.loads((Path(__file__).parent / "parameter-sets.json").read_text())["sets"]
    wanted = sys.argv[2:] or list(sets)
    if wanted[0] == "--org":
        if len(wanted) > 2:
            raise SystemExit(__doc__)
        code = code_keys(wanted[1]) if len(wanted) == 2 else {}
        path = out / "org.json"
        path.write_text(json.dumps(org(template, code), indent=1, sort_keys=True))
        print(path)
        return
    if wanted[0] == "--parameters":
        if len(wanted) != 3:
            raise SystemExit(__doc__)
        sets = {wanted[1]: json.loads(wanted[2])}
        wanted = [wanted[1]]
    for name in wanted:
        if name not in sets:
            raise SystemExit(f"no parameter set {name!r}; known: {', '.join(sets)}")
        translated = translate(template, sets[name])
        path = out / f"{name}.json"
        path.write_text(json.dumps(translated, indent=1, sort_keys=True))
        print(path)


if __name__ == "__main__":
    main()
