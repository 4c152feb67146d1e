#!/usr/bin/env python3
"""Writes ssm-model.json: the part of the official SSM service model (botocore's ssm/2014-11-06) that
the simulator serves, documentation stripped. The simulator validates requests against it, and its tests
check responses against the output shapes, so the constraints are AWS's own, not retyped.

Run with any Python that has botocore or the AWS CLI (tooling/setup.sh's venvs do):
    .tools/awscli/bin/python tooling/ssm-sim/model/extract.py
"""
import json
import pathlib

try:
    import botocore
    import botocore.loaders
except ImportError:  # awscli 1.4x vendors its own botocore
    from awscli import botocore
    import awscli.botocore.loaders  # noqa: F401

OPERATIONS = sorted("""
DescribeInstancePatchStates DescribeInstancePatchStatesForPatchGroup DescribeInstancePatches
DescribePatchGroupState DescribePatchGroups DescribeInstanceInformation DescribePatchBaselines
GetPatchBaseline GetPatchBaselineForPatchGroup UpdatePatchBaseline GetMaintenanceWindow
UpdateMaintenanceWindow DescribeMaintenanceWindows DescribeMaintenanceWindowTargets DescribeMaintenanceWindowExecutions
DescribeMaintenanceWindowExecutionTasks DescribeMaintenanceWindowExecutionTaskInvocations
ListCommands ListCommandInvocations GetCommandInvocation GetParameter PutParameter LabelParameterVersion
DescribeEffectivePatchesForPatchBaseline GetMaintenanceWindowExecution CancelMaintenanceWindowExecution
DescribeMaintenanceWindowTasks GetMaintenanceWindowTask UpdateMaintenanceWindowTask
ListResourceComplianceSummaries
""".split())

KEEP = {"type", "required", "members", "member", "key", "value", "min", "max", "pattern", "enum",
        "shape", "locationName", "timestampFormat"}


def strip(shape):
    """Keeps the constraints and the member references; drops documentation and the like."""
    out = {k: v for k, v in shape.items() if k in KEEP and k not in ("members", "member", "key", "value")}
    if "members" in shape:
        out["members"] = {name: {"shape": ref["shape"]} for name, ref in shape["members"].items()}
    for part in ("member", "key", "value"):
        if part in shape:
            out[part] = {"shape": shape[part]["shape"]}
    return out


def main():
    model = botocore.loaders.Loader().load_service_model("ssm", "service-2")
    shapes = model["shapes"]
    wanted, stack = set(), []
    operations = {}
    for name in OPERATIONS:
        op = model["operations"][name]
        operations[name] = {
            "input": op["input"]["shape"],
            "output": op["output"]["shape"],
            "errors": sorted(e["shape"] for e in op.get("errors", [])),
        }
        stack += [op["input"]["shape"], op["output"]["shape"]]
    while stack:
        name = stack.pop()
        if name in wanted:
            continue
        wanted.add(name)
        shape = shapes[name]
        for member in shape.get("members", {}).values():
            stack.append(member["shape"])
        for part in ("member", "key", "value"):
            if part in shape:
                stack.append(shape[part]["shape"])
    out = {
        "source": f"botocore {botocore.__version__} ssm/2014-11-06/service-2",
        "metadata": {k: model["metadata"][k] for k in ("apiVersion", "jsonVersion", "protocol", "targetPrefix")},
        "operations": operations,
        "shapes": {name: strip(shapes[name]) for name in sorted(wanted)},
    }
    target = pathlib.Path(__file__).with_name("ssm-model.json")
    target.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print(f"wrote {target}: {len(operations)} operations, {len(wanted)} shapes")


if __name__ == "__main__":
    main()
