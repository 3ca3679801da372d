"""Reading template.yaml the way CloudFormation does: short-form tags, SAM transform, lint."""
from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that turns `!Ref X` / `!GetAtt A.B` / `!Sub …` into their long JSON forms."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


@lru_cache(maxsize=4)
def _load(path: Path) -> dict[str, Any]:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)  # noqa: S506 - safe loader subclass


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The template as a plain dict (a fresh copy each call)."""
    return copy.deepcopy(_load(path))


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in template["Resources"].items() if res["Type"] == resource_type}


def sam_transform(template: dict[str, Any], region: str = "eu-west-1") -> dict[str, Any]:
    """Expand AWS::Serverless-2016-10-31 offline, as CloudFormation would before deploying (a fresh copy
    each call; a given template is expanded once per process, ~0.2 s, which several test modules ask for)."""
    return copy.deepcopy(_transformed(json.dumps(template), region))


@lru_cache(maxsize=8)
def _transformed(template_json: str, region: str) -> dict[str, Any]:
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.arn_generator import ArnGenerator
    from samtranslator.translator.translator import Translator

    ArnGenerator.BOTO_SESSION_REGION_NAME = region
    template = _as_packaged(json.loads(template_json))
    session = boto3.session.Session(region_name=region, aws_access_key_id="x", aws_secret_access_key="x")
    translator = Translator(None, Parser(), boto_session=session)
    return translator.translate(template, parameter_values={}, get_managed_policy_map=dict)


_CODE_PROPERTIES = {"AWS::Serverless::Function": "CodeUri", "AWS::Serverless::LayerVersion": "ContentUri"}


def _as_packaged(template: dict[str, Any]) -> dict[str, Any]:
    """Point local code folders at S3 as `sam package` would; a folder that does not exist is an error."""
    packaged = copy.deepcopy(template)
    for name, resource in packaged["Resources"].items():
        prop = _CODE_PROPERTIES.get(resource["Type"])
        uri = resource.get("Properties", {}).get(prop) if prop else None
        if isinstance(uri, str) and not uri.startswith("s3://"):
            if not (ROOT / uri).is_dir():
                raise FileNotFoundError(f"{name}.{prop}: folder {uri!r} does not exist")
            resource["Properties"][prop] = f"s3://packaged-artifacts/{uri.strip('/')}.zip"
    return packaged


LINT_REGIONS = ["eu-west-1"]


@lru_cache(maxsize=1)
def _lint_rules() -> Any:
    """cfn-lint's rules, built once per process (as its own runner does for several templates): building
    them reads every rule's schemas, ~0.3 s, which each call of `cfnlint.api.lint` without rules repeats."""
    from cfnlint.api import ManualArgs
    from cfnlint.config import ConfigMixIn
    from cfnlint.runner import Runner

    return Runner(ConfigMixIn(**ManualArgs(regions=LINT_REGIONS))).rules


def _lint_errors(template_text: str) -> list[Any]:
    """cfnlint.api.lint's own steps, with the rules built once: that function takes prebuilt rules only
    as a RulesCollection, which the rules its Runner builds are not, and otherwise builds them again."""
    from cfnlint.api import ManualArgs
    from cfnlint.config import ConfigMixIn
    from cfnlint.decode.decode import decode_str
    from cfnlint.runner import run_template_by_data

    template, matches = decode_str(template_text)
    if not matches and template is not None:
        matches = list(run_template_by_data(template, ConfigMixIn(**ManualArgs(regions=LINT_REGIONS)), _lint_rules()))
    return [m for m in matches or [] if m.rule.severity == "error"]


def lint(template_text: str, filename: str = "template.yaml") -> list[str]:
    """cfn-lint errors (not warnings or informational matches) for one template text."""
    return [f"{m.rule.id} {m.message} ({filename}:{m.linenumber})" for m in _lint_errors(template_text)]


def lint_template_and_transform(path: Path = TEMPLATE_PATH) -> list[str]:
    """Lint the template as written and again after the SAM transform, which catches what the first pass cannot."""
    errors = lint(path.read_text(encoding="utf-8"), path.name)
    transformed = sam_transform(load_template(path))
    errors += lint(json.dumps(transformed, indent=1), f"{path.name} (after SAM transform)")
    errors += lint_schedule_expressions(transformed)
    return errors


def lint_schedule_expressions(transformed: dict[str, Any]) -> list[str]:
    """cfn-lint checks rate()/cron() only on EventBridge rules; Scheduler uses the same grammar, so lint it as one."""
    expressions = {name: schedule["Properties"]["ScheduleExpression"]
                   for name, schedule in resources_of_type(transformed, "AWS::Scheduler::Schedule").items()}
    if not expressions:
        return []
    # One probe template holds every schedule as a rule of the same name, so one lint run checks them all;
    # each error is given back to its schedule by the resource it was found in.
    probe = {"Resources": {name: {"Type": "AWS::Events::Rule",
                                  "Properties": {"ScheduleExpression": expression, "State": "ENABLED"}}
                           for name, expression in expressions.items()}}
    errors = []
    for m in _lint_errors(json.dumps(probe)):
        path = list(getattr(m, "path", None) or [])
        name = path[1] if len(path) > 1 and path[0] == "Resources" and path[1] in expressions else None
        where = f"{name}: {expressions[name]}" if name else "; ".join(f"{n}: {e}" for n, e in expressions.items())
        errors.append(f"{m.rule.id} {m.message} ({name or 'schedules'}.ScheduleExpression:{m.linenumber}) [{where}]")
    return errors
