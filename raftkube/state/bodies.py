"""Request bodies parsed with limits: hostile input costs a 4xx, never the event loop.

A 477-byte YAML document of nested aliases expands to a billion nodes once walked
(Kubernetes' CVE-2019-11253); a JSON body nested 100 000 deep makes Python's parser
and everything after it recurse until RecursionError. So: aliases have a small budget,
documents a node and depth cap, bodies a size cap, and anything that is not small JSON
is parsed in a worker thread so the API keeps answering while it is.
"""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

import yaml

MAX_BODY = 3 * 2**20          # Kubernetes' request limit
MAX_OBJECT = 3 * 2**19        # 1.5 MiB serialized: etcd's default request limit
MAX_ALIASES = 100
MAX_NODES = 200_000
MAX_DEPTH = 100
INLINE_JSON = 64 * 2**10      # smaller JSON bodies parse on the loop: a thread hop costs more

_parsers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="body-parser")


class BodyError(ValueError):
    """The body is not acceptable; the message says why (answered 400, or 413 if `too_large`)."""

    def __init__(self, message: str, too_large: bool = False):
        super().__init__(message)
        self.too_large = too_large


class _LimitedLoader(yaml.SafeLoader):
    """SafeLoader that counts aliases, and nodes as they would be once aliases expand,
    while it composes the document (before anything is built from it)."""

    def __init__(self, stream):
        super().__init__(stream)
        self._aliases = 0
        self._nodes = 0
        self._anchored: dict[str, int] = {}  # anchor -> expanded size of its node

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise BodyError(f"YAML body uses more than {MAX_ALIASES} aliases")
            self._count(self._anchored.get(event.anchor, 1))
            return super().compose_node(parent, index)
        before = self._nodes
        self._count(1)
        node = super().compose_node(parent, index)
        if event.anchor is not None:
            self._anchored[event.anchor] = self._nodes - before
        return node

    def _count(self, nodes: int) -> None:
        self._nodes += nodes
        if self._nodes > MAX_NODES:
            raise BodyError(f"body has more than {MAX_NODES} values (counting YAML aliases expanded)")


def parse(raw: bytes, yaml_body: bool):
    """The value in `raw` (JSON, or YAML when `yaml_body`), within the caps; BodyError otherwise."""
    if len(raw) > MAX_BODY:
        raise BodyError(f"request body is {len(raw)} bytes, more than {MAX_BODY}", too_large=True)
    try:
        text = raw.decode("utf-8")
        value = yaml.load(text, Loader=_LimitedLoader) if yaml_body else _JSON.decode(text)
    except BodyError:
        raise
    except RecursionError:
        raise BodyError(f"request body is nested more than {MAX_DEPTH} levels deep") from None
    except (ValueError, yaml.YAMLError) as exc:
        raise BodyError(f"request body is not valid {'YAML' if yaml_body else 'JSON'}: {exc}") from None
    if yaml_body or len(raw) > INLINE_JSON or raw.count(b"[") + raw.count(b"{") > MAX_DEPTH:
        check_shape(value)  # else too few containers to nest too deep, too few bytes for too many values
    return value


def _no_constant(name: str):
    # Python's json reads NaN and Infinity, which JSON has not: stored, they would break
    # every later answer that includes the object.
    raise BodyError(f"request body holds a value JSON cannot: {name}")


_JSON = json.JSONDecoder(parse_constant=_no_constant)


def check_shape(value) -> None:
    """Refuse values nested deeper than MAX_DEPTH or with more than MAX_NODES parts
    (iteratively: the check itself must not recurse)."""
    stack = [(value, 1)]
    seen = 0
    while stack:
        item, depth = stack.pop()
        seen += 1
        if seen > MAX_NODES:
            raise BodyError(f"body has more than {MAX_NODES} values")
        if depth > MAX_DEPTH:
            raise BodyError(f"request body is nested more than {MAX_DEPTH} levels deep")
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)


async def parse_async(raw: bytes, yaml_body: bool):
    """`parse`, in a worker thread unless the body is small JSON."""
    if not yaml_body and len(raw) <= INLINE_JSON:
        return parse(raw, yaml_body)
    return await asyncio.get_running_loop().run_in_executor(_parsers, parse, raw, yaml_body)


def object_size(obj) -> int:
    """The JSON size of an object to store; BodyError(too_large) above MAX_OBJECT."""
    size = len(json.dumps(obj, separators=(",", ":")))
    if size > MAX_OBJECT:
        raise BodyError(f"the object is {size} bytes serialized, more than the limit of {MAX_OBJECT}",
                        too_large=True)
    return size
