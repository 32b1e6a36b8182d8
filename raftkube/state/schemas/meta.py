"""ObjectMeta and the references objects make to each other."""

from raftkube.state import names
from raftkube.state.schemas.fields import (
    Annotations,
    _Mapping,
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


class FieldsV1(_Mapping):
    """A managed-fields set: free-form JSON (raftkube records managers, not their fields)."""

    def check_item(self, key, value):
        return value


class ManagedFieldsEntry(Object):
    """Who last applied or updated the object (server-side apply records its fieldManager)."""

    manager = Str()
    operation = Str()
    apiVersion = Str()
    time = Timestamp()
    fieldsType = Str()
    fieldsV1 = FieldsV1()
    subresource = Str()


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
    managedFields = List(Nested(ManagedFieldsEntry))


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
