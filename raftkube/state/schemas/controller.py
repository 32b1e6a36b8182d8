"""ReplicationController: keeps `replicas` pods matching `selector` alive."""

from typing import Any

from marshmallow import ValidationError, pre_load, validates_schema

from raftkube.state.schemas.fields import Int, Labels, List, Nested, Object, Status, Str, in_range
from raftkube.state.schemas.meta import TopLevel
from raftkube.state.schemas.pod import RESTART_POLICIES, PodTemplateSpec
from raftkube.state.selectors import Selector


class ReplicationControllerSpec(Object):
    replicas = Int(load_default=1, validate=in_range(0))
    minReadySeconds = Int(validate=in_range(0))
    selector = Labels()
    template = Nested(PodTemplateSpec, required=True)

    @pre_load
    def _selector_defaults_to_template_labels(self, data: Any, **kwargs: Any) -> Any:
        # Kubernetes fills an omitted selector from the template's labels.
        if isinstance(data, dict) and not data.get("selector"):
            labels = _template_labels(data)
            if labels:
                data = {**data, "selector": labels}
        return data

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _selector_matches_template(self, data: dict, original: Any, **kwargs: Any) -> None:
        if not isinstance(original, dict) or not isinstance(original.get("template"), dict):
            return
        errors = {}
        labels = _template_labels(original)
        selector = original.get("selector") or labels
        if not selector:
            errors["selector"] = ["required value (or labels in the template)"]
        elif isinstance(selector, dict) and isinstance(labels, dict):
            if not Selector.from_match_labels(selector).matches(labels):
                errors["selector"] = ["does not match template labels"]
        pod_spec = original["template"].get("spec")
        policy = pod_spec.get("restartPolicy") if isinstance(pod_spec, dict) else None
        if policy in RESTART_POLICIES and policy != "Always":
            errors["template.spec.restartPolicy"] = [
                f'unsupported value "{policy}": supported values: "Always"'
            ]
        if errors:
            raise ValidationError(errors)


def _template_labels(spec: dict) -> Any:
    """The raw template labels of an RC spec, or None when the shape is wrong."""
    template = spec.get("template")
    metadata = template.get("metadata") if isinstance(template, dict) else None
    return metadata.get("labels") if isinstance(metadata, dict) else None


class ReplicationControllerCondition(Status):
    type = Str(required=True)
    status = Str(required=True)
    lastTransitionTime = Str()
    reason = Str()
    message = Str()


class ReplicationControllerStatus(Status):
    replicas = Int(validate=in_range(0))
    fullyLabeledReplicas = Int(validate=in_range(0))
    readyReplicas = Int(validate=in_range(0))
    availableReplicas = Int(validate=in_range(0))
    observedGeneration = Int(validate=in_range(0))
    conditions = List(Nested(ReplicationControllerCondition))


class ReplicationController(TopLevel):
    spec = Nested(ReplicationControllerSpec, required=True)
    status = Nested(ReplicationControllerStatus)
