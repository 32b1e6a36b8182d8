"""ObjectMeta and the references objects make to each other."""

from raftkube.state import names
from raftkube.state.schemas.fields import (
    Annotations,
    Bool,
    Int,
    Labels,
    List,
    Nested,
    Object,
    Str,
    Timestamp,
    in_range,
    name_rule,
)


class OwnerReference(Object):
    apiVersion = Str(required=True)
    kind = Str(required=True)
    name = Str(required=True)
    uid = Str(required=True)
    controller = Bool()
    blockOwnerDeletion = Bool()


class ObjectMeta(Object):
    """Identity and bookkeeping of every object.

    Whether `name` is required, which name rule applies and whether `namespace` belongs
    depend on the kind, so `objects.validate` checks those; here are the rules shared by
    all kinds and by pod templates.
    """

    name = Str()
    generateName = Str()
    namespace = Str(validate=name_rule(names.dns1123_label))
    labels = Labels()
    annotations = Annotations()
    uid = Str()
    resourceVersion = Str()
    generation = Int(validate=in_range(0))
    creationTimestamp = Timestamp()
    deletionTimestamp = Timestamp()
    deletionGracePeriodSeconds = Int(validate=in_range(0))
    ownerReferences = List(Nested(OwnerReference))
    finalizers = List(Str(validate=name_rule(names.qualified_name)))
    selfLink = Str()


class ObjectReference(Object):
    """A pointer to another object: an event's subject, an endpoint's pod."""

    apiVersion = Str()
    kind = Str()
    namespace = Str()
    name = Str()
    uid = Str()
    resourceVersion = Str()
    fieldPath = Str()


class TopLevel(Object):
    """The fields every stored object has; each kind adds its spec and status."""

    apiVersion = Str(required=True)
    kind = Str(required=True)
    metadata = Nested(ObjectMeta, required=True)
