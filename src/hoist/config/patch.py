"""JSON patches (RFC 6902) on the config tree, as Skaffold's profiles apply them.

Skaffold applies a profile's ``patches`` with the yaml-patch library (krishicks/yaml-patch);
its behaviour is followed where it departs from the RFC: ``remove`` under a path whose
parent is missing does nothing; ``replace`` needs the target to exist; a path token
``key=value`` selects every mapping below that point (the point itself included) whose
``key`` is the string ``value``, without descending into a match.
"""

from __future__ import annotations

from hoist.config.tree import YMap, YNode, YScalar, YSeq, is_null, same

OPS = ("add", "remove", "replace", "move", "copy", "test")


class PatchError(Exception):
    """A patch that does not apply; the message says why, without file or line."""


def split_pointer(path: str) -> list[str]:
    """The decoded tokens of a JSON pointer (``/a/b~1c`` → ``["a", "b/c"]``)."""
    if not path.startswith("/"):
        raise PatchError(f"path {path!r} must start with '/'")
    if path == "/":
        return []
    return [t.replace("~1", "/").replace("~0", "~") for t in path.split("/")[1:]]


def _child(node: YNode | None, token: str) -> YNode | None:
    if isinstance(node, YMap):
        return node.get(token)
    if isinstance(node, YSeq) and token.isdigit():
        i = int(token)
        return node.items[i] if i < len(node.items) else None
    return None


def expand(root: YNode, path: str) -> list[list[str]]:
    """The concrete token paths a pointer names: one, or one per ``key=value`` match."""
    tokens = split_pointer(path)
    if not any("=" in t for t in tokens):
        return [tokens]
    routes: list[tuple[list[str], YNode | None]] = [([], root)]
    last_selector = max(i for i, t in enumerate(tokens) if "=" in t)
    for token in tokens[: last_selector + 1]:
        nxt: list[tuple[list[str], YNode | None]] = []
        for prefix, node in routes:
            if "=" in token:
                key, _, value = token.partition("=")
                nxt.extend(_find_all(prefix, node, key, value))
            else:
                child = _child(node, token)
                if child is not None:
                    nxt.append(([*prefix, token], child))
        routes = nxt
    if not routes:
        raise PatchError(f"no element matches {path!r}")
    rest = tokens[last_selector + 1:]
    return [[*prefix, *rest] for prefix, _ in routes]


def _find_all(prefix: list[str], node: YNode | None, key: str,
              value: str) -> list[tuple[list[str], YNode | None]]:
    if isinstance(node, YMap):
        hit = node.get(key)
        if isinstance(hit, YScalar) and hit.tag == "str" and hit.text == value:
            return [(prefix, node)]
        out: list[tuple[list[str], YNode | None]] = []
        for k, v in node.entries:
            out.extend(_find_all([*prefix, k.text or ""], v, key, value))
        return out
    if isinstance(node, YSeq):
        out = []
        for i, v in enumerate(node.items):
            out.extend(_find_all([*prefix, str(i)], v, key, value))
        return out
    return []


def _parent(root: YNode, tokens: list[str], path: str) -> YNode:
    node: YNode | None = root
    for depth, token in enumerate(tokens[:-1]):
        parent, node = node, _child(node, token)
        if node is None or is_null(node):
            where = "/" + "/".join(tokens[: depth + 1])
            size = (f": the list has {len(parent.items)} item"
                    f"{'s' if len(parent.items) != 1 else ''}"
                    if isinstance(parent, YSeq) else "")
            raise PatchError(f"{where!r} does not exist{size} (in path {path!r})")
    assert node is not None
    return node


def _index(token: str, size: int, allow_end: bool, path: str) -> int:
    if not token.isdigit():
        raise PatchError(f"{token!r} is not a list index (in path {path!r})")
    i = int(token)
    if i > size or (i == size and not allow_end):
        raise PatchError(f"index {i} is out of range: the list has {size} "
                         f"item{'s' if size != 1 else ''} (in path {path!r})")
    return i


def _get(root: YNode, tokens: list[str], path: str) -> YNode:
    if not tokens:
        return root
    parent = _parent(root, tokens, path)
    found = _child(parent, tokens[-1])
    if found is None or is_null(found):
        size = (f": the list has {len(parent.items)} item{'s' if len(parent.items) != 1 else ''}"
                if isinstance(parent, YSeq) else "")
        raise PatchError(f"{path!r} does not exist{size}")
    return found


def _set(root: YNode, tokens: list[str], value: YNode, path: str, insert: bool) -> None:
    """Write ``value`` at ``tokens``: insert into a list (``add``) or overwrite an item."""
    if not tokens:
        if not (isinstance(root, YMap) and isinstance(value, YMap)):
            raise PatchError("only a mapping can be added at the root '/'")
        for k, v in value.entries:
            root.set(k.text or "", v, k.line)
        return
    parent = _parent(root, tokens, path)
    token = tokens[-1]
    if isinstance(parent, YMap):
        parent.set(token, value)
    elif isinstance(parent, YSeq):
        if token == "-":
            parent.items.append(value)
            return
        i = _index(token, len(parent.items), allow_end=True, path=path)
        if insert or i == len(parent.items):
            parent.items.insert(i, value)
        else:
            parent.items[i] = value
    else:
        raise PatchError(f"{path!r} does not exist: its parent is not a mapping or a list")


def _remove(root: YNode, tokens: list[str], path: str) -> YNode:
    if not tokens:
        raise PatchError("the root '/' cannot be removed")
    parent = _parent(root, tokens, path)
    token = tokens[-1]
    if isinstance(parent, YMap):
        found = parent.get(token)
        if found is None:
            raise PatchError(f"{path!r} does not exist")
        parent.remove(token)
        return found
    if isinstance(parent, YSeq):
        i = _index(token, len(parent.items), allow_end=False, path=path)
        return parent.items.pop(i)
    raise PatchError(f"{path!r} does not exist")


def apply_op(root: YNode, op: str, path: str, value: YNode | None = None,
             from_path: str | None = None) -> None:
    """Apply one patch operation to ``root`` in place (``value`` is copied, never shared)."""
    if op not in OPS:
        raise PatchError(f"unknown op {op!r} (one of {', '.join(OPS)})")
    if op in ("move", "copy") and not from_path:
        raise PatchError(f"a {op!r} patch needs 'from'")
    if op in ("add", "replace") and value is None:
        raise PatchError(f"a {op!r} patch needs a 'value'")
    targets = expand(root, path)
    # Later matches first: removing list items by index must not shift the ones to come.
    for tokens in reversed(targets):
        concrete = "/" + "/".join(t.replace("~", "~0").replace("/", "~1") for t in tokens)
        _apply_one(root, op, tokens, concrete, value, from_path)


def _apply_one(root: YNode, op: str, tokens: list[str], path: str, value: YNode | None,
               from_path: str | None) -> None:
    if op == "add":
        assert value is not None
        _set(root, tokens, value.clone(), path, insert=True)
    elif op == "replace":
        assert value is not None
        _get(root, tokens, path)  # the target must exist
        _set(root, tokens, value.clone(), path, insert=False)
    elif op == "remove":
        try:
            _parent(root, tokens, path)
        except PatchError:
            return  # yaml-patch ignores a remove whose parent is missing
        _remove(root, tokens, path)
    elif op in ("move", "copy"):
        assert from_path is not None
        src_tokens = split_pointer(from_path)
        moved = (_remove(root, src_tokens, from_path) if op == "move"
                 else _get(root, src_tokens, from_path).clone())
        _set(root, tokens, moved, path, insert=False)
    else:  # test
        found = _get(root, tokens, path) if tokens else root
        if value is None and is_null(found):
            return
        if not same(found, value):
            raise PatchError(f"test failed: {path!r} holds another value")
