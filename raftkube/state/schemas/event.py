"""Event: a record of something that happened to an object, shown by `describe`."""

from raftkube.state.schemas.fields import Int, Nested, Object, Str, Timestamp, in_range, one_of
from raftkube.state.schemas.meta import ObjectReference, TopLevel


class EventSource(Object):
    component = Str()
    host = Str()


class Event(TopLevel):
    involvedObject = Nested(ObjectReference, required=True)
    reason = Str()
    message = Str()
    source = Nested(EventSource)
    firstTimestamp = Timestamp()
    lastTimestamp = Timestamp()
    eventTime = Timestamp()
    count = Int(validate=in_range(0))
    type = Str(load_default="Normal", validate=one_of("Normal", "Warning"))
    reportingComponent = Str()
    reportingInstance = Str()
    action = Str()
    related = Nested(ObjectReference)
