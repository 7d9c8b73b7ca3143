"""Read `template.yaml` the way CloudFormation and SAM would, for the local stack.

Loads the YAML with its short-form intrinsics (`!Ref`, `!Sub`, ...), applies parameter values
(defaults, then `samconfig.toml`'s `[local]` overrides, then the caller's), evaluates
Conditions, and resolves intrinsic functions against the physical ids of the local resources.
It also merges SAM `Globals` into each function, so the rest of the stack sees finished specs.
"""

from __future__ import annotations

import copy
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ACCOUNT_ID = "123456789012"
NO_VALUE = object()

_SHORT_FORMS = {
    "Ref": "Ref",
    "GetAtt": "Fn::GetAtt",
    "Sub": "Fn::Sub",
    "Join": "Fn::Join",
    "If": "Fn::If",
    "Equals": "Fn::Equals",
    "Not": "Fn::Not",
    "And": "Fn::And",
    "Or": "Fn::Or",
    "Select": "Fn::Select",
    "Split": "Fn::Split",
    "Base64": "Fn::Base64",
    "GetAZs": "Fn::GetAZs",
    "FindInMap": "Fn::FindInMap",
    "ImportValue": "Fn::ImportValue",
    "Condition": "Condition",
}


class TemplateError(Exception):
    """The template uses something the local stack cannot honour; said plainly, at start-up."""


class _Loader(yaml.SafeLoader):
    pass


def _make_constructor(name: str) -> Any:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if name == "Fn::GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {name: value}

    return construct


for _short, _long in _SHORT_FORMS.items():
    _Loader.add_constructor(f"!{_short}", _make_constructor(_long))


def load_yaml(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        document = yaml.load(handle, Loader=_Loader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(document, dict) or "Resources" not in document:
        raise TemplateError(f"{path} is not a CloudFormation template")
    return document


def samconfig_parameters(path: Path, environment: str = "local") -> dict[str, str]:
    """`parameter_overrides` of `[<environment>.deploy.parameters]` in samconfig.toml."""
    if not path.exists():
        return {}
    config = tomllib.loads(path.read_text())
    raw = config.get(environment, {}).get("deploy", {}).get("parameters", {}).get("parameter_overrides", "")
    if isinstance(raw, list):
        raw = " ".join(raw)
    pairs = (item.split("=", 1) for item in shlex.split(raw))
    return {key: value for key, value in pairs}


def samconfig_stack_name(path: Path, environment: str = "local") -> str:
    if path.exists():
        config = tomllib.loads(path.read_text())
        name = config.get(environment, {}).get("deploy", {}).get("parameters", {}).get("stack_name")
        if name:
            return str(name)
    return "local"


def check_parameter(name: str, spec: dict[str, Any], value: Any) -> None:
    """Refuse a value CloudFormation would refuse (AllowedValues, AllowedPattern, lengths)."""
    text = str(value)
    allowed = spec.get("AllowedValues")
    problem = None
    if allowed is not None and text not in [str(option) for option in allowed]:
        problem = f"is not one of {allowed}"
    elif "AllowedPattern" in spec and re.fullmatch(str(spec["AllowedPattern"]), text) is None:
        problem = f"does not match {spec['AllowedPattern']}"
    elif not int(spec.get("MinLength", 0)) <= len(text) <= int(spec.get("MaxLength", len(text))):
        problem = f"is not {spec.get('MinLength', 0)} to {spec.get('MaxLength', 'any')} characters long"
    if problem:
        hint = spec.get("ConstraintDescription", "")
        raise TemplateError(f"parameter {name}: {text!r} {problem}" + (f" ({hint})" if hint else ""))


@dataclass
class Template:
    """A template with its parameters applied, ready to resolve values against local resources."""

    path: Path
    document: dict[str, Any]
    stack_name: str
    region: str
    parameters: dict[str, Any]
    refs: dict[str, Any] = field(default_factory=dict)
    attributes: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(
        cls,
        path: Path,
        stack_name: str,
        region: str = "us-east-1",
        overrides: dict[str, str] | None = None,
    ) -> Template:
        document = load_yaml(path)
        values = samconfig_parameters(path.parent / "samconfig.toml")
        values.update(overrides or {})
        parameters: dict[str, Any] = {}
        for name, spec in (document.get("Parameters") or {}).items():
            if name in values:
                raw: Any = values[name]
            elif "Default" in spec:
                raw = spec["Default"]
            else:
                raise TemplateError(
                    f"parameter {name} has no default: give it in samconfig.toml [local.deploy.parameters]"
                )
            check_parameter(name, spec, raw)
            if str(spec.get("Type", "")).startswith(("CommaDelimitedList", "List<")):
                raw = [part.strip() for part in str(raw).split(",")] if isinstance(raw, str) else list(raw)
            parameters[name] = raw
        return cls(path=path, document=document, stack_name=stack_name, region=region, parameters=parameters)

    # ------------------------------------------------------------------ structure
    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        resources: dict[str, dict[str, Any]] = self.document["Resources"]
        return {
            logical_id: resource
            for logical_id, resource in resources.items()
            if "Condition" not in resource or self.condition(resource["Condition"])
        }

    def of_type(self, *types: str) -> dict[str, dict[str, Any]]:
        return {key: value for key, value in self.resources.items() if value.get("Type") in types}

    def function_properties(self, logical_id: str) -> dict[str, Any]:
        """A function's properties with SAM `Globals.Function` merged in (maps merge, the rest override)."""
        merged = copy.deepcopy((self.document.get("Globals") or {}).get("Function") or {})
        for key, value in (self.resources[logical_id].get("Properties") or {}).items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = _deep_merge(merged[key], value)
            else:
                merged[key] = copy.deepcopy(value)
        return merged

    def physical_name(self, logical_id: str, explicit: Any = None) -> str:
        if explicit not in (None, NO_VALUE):
            return str(self.resolve(explicit))
        return f"{self.stack_name}-{logical_id}"

    # ------------------------------------------------------------------ conditions
    def condition(self, name: str) -> bool:
        conditions = self.document.get("Conditions") or {}
        if name not in conditions:
            raise TemplateError(f"unknown condition {name}")
        return bool(self.resolve(conditions[name]))

    # ------------------------------------------------------------------ intrinsics
    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in (self.resolve(entry) for entry in value) if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self._ref(argument)
            if key == "Condition":
                return self.condition(argument)
            if key.startswith("Fn::"):
                return self._function(key, argument)
        resolved = {key: self.resolve(entry) for key, entry in value.items()}
        return {key: entry for key, entry in resolved.items() if entry is not NO_VALUE}

    def _ref(self, name: str) -> Any:
        pseudo = {
            "AWS::StackName": self.stack_name,
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{ACCOUNT_ID}:stack/{self.stack_name}/local",
            "AWS::NoValue": NO_VALUE,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.refs:
            return self.refs[name]
        if name in self.document["Resources"]:
            raise TemplateError(f"!Ref {name}: that resource is not created yet (ordering) or not emulated")
        raise TemplateError(f"!Ref {name}: no such parameter or resource")

    def get_att(self, logical_id: str, attribute: str) -> Any:
        known = self.attributes.get(logical_id, {})
        if attribute in known:
            return known[attribute]
        raise TemplateError(f"!GetAtt {logical_id}.{attribute} is not available locally")

    def _function(self, name: str, argument: Any) -> Any:
        if name == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            return self.get_att(logical_id, self.resolve(attribute))
        if name == "Fn::Sub":
            return self._sub(argument)
        if name == "Fn::Join":
            delimiter, items = argument
            return str(delimiter).join(str(item) for item in self.resolve(items))
        if name == "Fn::If":
            condition, when_true, when_false = argument
            return self.resolve(when_true if self.condition(condition) else when_false)
        if name == "Fn::Equals":
            left, right = (self.resolve(item) for item in argument)
            return str(left) == str(right)
        if name == "Fn::Not":
            return not self.resolve(argument[0])
        if name == "Fn::And":
            return all(self.resolve(item) for item in argument)
        if name == "Fn::Or":
            return any(self.resolve(item) for item in argument)
        if name == "Fn::Select":
            index, items = argument
            return self.resolve(items)[int(self.resolve(index))]
        if name == "Fn::Split":
            delimiter, text = argument
            return str(self.resolve(text)).split(delimiter)
        if name == "Fn::GetAZs":
            return [f"{self.region}a", f"{self.region}b", f"{self.region}c"]
        if name == "Fn::FindInMap":
            mapping, key, sub_key = (self.resolve(item) for item in argument)
            return self.document["Mappings"][mapping][key][sub_key]
        raise TemplateError(f"{name} is not supported by the local stack")

    def _sub(self, argument: Any) -> str:
        if isinstance(argument, list):
            text, variables = argument[0], {key: self.resolve(value) for key, value in argument[1].items()}
        else:
            text, variables = argument, {}

        def replace(match: re.Match[str]) -> str:
            expression = match.group(1)
            if expression.startswith("!"):
                return "${" + expression[1:] + "}"
            if expression in variables:
                return str(variables[expression])
            if "." in expression and not expression.startswith("AWS::"):
                logical_id, attribute = expression.split(".", 1)
                return str(self.get_att(logical_id, attribute))
            return str(self._ref(expression))

        return re.sub(r"\$\{([^}]+)\}", replace, text)


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged
