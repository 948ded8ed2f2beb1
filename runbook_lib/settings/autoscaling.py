"""Auto scaling of a table and its indexes (Application Auto Scaling): read the scalable targets
and scaling policies, and plan them again on the restored table (a restore carries none)."""

from __future__ import annotations

from typing import Iterable

from ..aws.tables import optional_client
from .model import Draft, Step, norm
from .optional_reads import Reads


def resource_ids(table: str, gsis: Iterable[str]) -> list[str]:
    return [f"table/{table}"] + [f"table/{table}/index/{g}" for g in gsis]


def scalable_targets(aas, ids: list[str]) -> list[dict]:
    out: list[dict] = []
    for i in range(0, len(ids), 50):  # ResourceIds takes at most 50
        for page in aas.get_paginator("describe_scalable_targets").paginate(
            ServiceNamespace="dynamodb", ResourceIds=ids[i : i + 50]
        ):
            for t in page.get("ScalableTargets") or []:
                out.append(
                    {
                        "resource_id": t["ResourceId"],
                        "dimension": t["ScalableDimension"],
                        "min": t["MinCapacity"],
                        "max": t["MaxCapacity"],
                        "suspended": t.get("SuspendedState"),
                    }
                )
    return sorted(out, key=lambda t: (t["resource_id"], t["dimension"]))


def scaling_policies(aas, ids: list[str]) -> list[dict]:
    out: list[dict] = []
    for rid in ids:
        for page in aas.get_paginator("describe_scaling_policies").paginate(
            ServiceNamespace="dynamodb", ResourceId=rid
        ):
            for p in page.get("ScalingPolicies") or []:
                config = p.get("TargetTrackingScalingPolicyConfiguration") or p.get(
                    "StepScalingPolicyConfiguration"
                )
                out.append(
                    {
                        "name": p["PolicyName"],
                        "resource_id": p["ResourceId"],
                        "dimension": p["ScalableDimension"],
                        "type": p["PolicyType"],
                        "config": config,
                    }
                )
    return sorted(out, key=lambda p: (p["resource_id"], p["dimension"], p["name"]))


def read_autoscaling(reads: Reads, aas, table: str, gsis: list[str]) -> dict | None:
    ids = resource_ids(table, gsis)
    return reads(
        "autoscaling",
        lambda: {"targets": scalable_targets(aas, ids), "policies": scaling_policies(aas, ids)},
    )


def retarget_resource_id(resource_id: str, source: str, target: str) -> str:
    prefix = f"table/{source}"
    return f"table/{target}" + resource_id[len(prefix) :] if resource_id.startswith(prefix) else resource_id


def diff_autoscaling(draft: Draft) -> None:
    """The source's scalable targets and policies, on the restored table and its indexes."""
    auto = draft.snap.get("autoscaling")
    if not auto or not (auto["targets"] or auto["policies"]):
        return
    source, target_table = draft.source, draft.target_table
    aas = optional_client(draft.target, "application-autoscaling")
    cur = read_autoscaling(draft.reads, aas, target_table, [g["name"] for g in draft.snap["indexes"]["global"]])
    cur = cur or {"targets": [], "policies": []}
    cur_targets = {(t["resource_id"], t["dimension"]): t for t in cur["targets"]}
    cur_policies = {(p["resource_id"], p["dimension"], p["name"]): p for p in cur["policies"]}
    for t in auto["targets"]:
        rid = retarget_resource_id(t["resource_id"], source, target_table)
        have = cur_targets.get((rid, t["dimension"]))
        want = {"min": t["min"], "max": t["max"], "suspended": t.get("suspended")}
        if have and norm({"min": have["min"], "max": have["max"], "suspended": have.get("suspended")}) == norm(want):
            continue
        params = {
            "ServiceNamespace": "dynamodb",
            "ResourceId": rid,
            "ScalableDimension": t["dimension"],
            "MinCapacity": t["min"],
            "MaxCapacity": t["max"],
        }
        if t.get("suspended"):
            params["SuspendedState"] = t["suspended"]
        draft.add(
            f"autoscaling_target:{rid}:{t['dimension']}",
            have and {"min": have["min"], "max": have["max"]},
            {"min": t["min"], "max": t["max"]},
            Step("application-autoscaling", "RegisterScalableTarget", params),
        )
    for p in auto["policies"]:
        rid = retarget_resource_id(p["resource_id"], source, target_table)
        have = cur_policies.get((rid, p["dimension"], p["name"]))
        if have and have["type"] == p["type"] and norm(have["config"]) == norm(p["config"]):
            continue
        key = "TargetTrackingScalingPolicyConfiguration" if p["type"] == "TargetTrackingScaling" else "StepScalingPolicyConfiguration"
        params = {
            "PolicyName": p["name"],
            "ServiceNamespace": "dynamodb",
            "ResourceId": rid,
            "ScalableDimension": p["dimension"],
            "PolicyType": p["type"],
            key: p["config"],
        }
        draft.add(
            f"autoscaling_policy:{rid}:{p['name']}",
            have and have["config"],
            p["config"],
            Step("application-autoscaling", "PutScalingPolicy", params),
        )
