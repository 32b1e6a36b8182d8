"""marshmallow schemas for the Kubernetes v1 kinds raftkube stores.

`raftkube.state.objects` is the public door (`validate`, `KINDS`); these modules only
describe shapes, defaults and per-field rules.
"""
