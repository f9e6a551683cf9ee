"""Block Kit and view validation against Slack's documented limits.

``SlackStandIn`` runs every ``blocks`` / ``view`` argument through these checks and
answers ``invalid_blocks`` / ``invalid_arguments`` where Slack would.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

__all__ = ["blocks_text_chars", "oversize", "validate_blocks", "validate_view"]


# Slack's documented Block Kit / message limits (checked explicitly, because the SDK's
# models are lenient in places: unknown keys, plain-string text objects, missing text).
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_MESSAGE_TEXT = 40_000
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_BUTTON_TEXT = 75
MAX_ACTION_ID = 255
MAX_BLOCK_ID = 255
MAX_BUTTON_VALUE = 2000
MAX_ACTIONS_ELEMENTS = 25
MAX_CONTEXT_ELEMENTS = 10
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_OPTIONS = 100
MAX_MARKDOWN_BLOCK_TEXT = 12_000
# Slack refuses a message whose blocks hold more text than this, all together
# (msg_blocks_too_long), even when every block is within its own limits.
MAX_BLOCKS_TEXT = 12_000
MAX_UPDATE_TEXT = 4_000  # chat.update's ``text`` (msg_too_long)


def _text_of(obj: Any) -> str | None:
    if isinstance(obj, dict) and isinstance(obj.get("text"), str):
        return obj["text"]
    return None


def blocks_text_chars(blocks: Any) -> int:
    """Characters of text anywhere in ``blocks``: every ``text`` string (text
    objects in sections, fields, headers, context, buttons, options and
    placeholders; rich text elements; markdown blocks), summed."""
    total = 0
    stack = [blocks]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    total += len(value)
                else:
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return total


def oversize(method: str, args: dict[str, Any]) -> tuple[str, str] | None:
    """Slack's refusal of a message too long as a whole: (error, detail), or None."""
    if method not in ("chat.postMessage", "chat.update", "chat.postEphemeral"):
        return None
    chars = blocks_text_chars(args.get("blocks") or [])
    if chars > MAX_BLOCKS_TEXT:
        return "msg_blocks_too_long", f"blocks hold {chars} chars of text, max {MAX_BLOCKS_TEXT}"
    text = args.get("text")
    if method == "chat.update" and isinstance(text, str) and len(text) > MAX_UPDATE_TEXT:
        return "msg_too_long", f"chat.update text is {len(text)} chars, max {MAX_UPDATE_TEXT}"
    return None


def _check_text_object(
    obj: Any, where: str, errors: list[str], *, max_len: int, plain_only: bool = False
) -> None:
    # Slack rejects a bare string where a text object is expected; the SDK would coerce it.
    if not isinstance(obj, dict):
        errors.append(f"{where}: must be a text object, got {type(obj).__name__}")
        return
    allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    if obj.get("type") not in allowed:
        errors.append(
            f"{where}: text object type must be one of {allowed}, got {obj.get('type')!r}"
        )
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        errors.append(f"{where}: text must be a non-empty string")
    elif len(text) > max_len:
        errors.append(f"{where}: text is {len(text)} chars, max {max_len}")


def _walk(obj: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(obj, dict):
        yield path, obj
        for k, v in obj.items():
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _walk(v, f"{path}[{i}]")


def _check_elements(block: dict[str, Any], where: str, errors: list[str]) -> None:
    """Limits on interactive elements anywhere inside a block."""
    action_ids: set[str] = set()
    for path, node in _walk(block, where):
        kind = node.get("type")
        if "action_id" in node:
            aid = node["action_id"]
            if not isinstance(aid, str) or not aid:
                errors.append(f"{path}: action_id must be a non-empty string")
            elif len(aid) > MAX_ACTION_ID:
                errors.append(f"{path}: action_id is {len(aid)} chars, max {MAX_ACTION_ID}")
            elif aid in action_ids:
                errors.append(f"{path}: duplicate action_id {aid!r} in block")
            else:
                action_ids.add(aid)
        if kind == "button":
            _check_text_object(
                node.get("text"), f"{path}.text", errors, max_len=MAX_BUTTON_TEXT, plain_only=True
            )
            value = node.get("value")
            if value is not None and (not isinstance(value, str) or len(value) > MAX_BUTTON_VALUE):
                errors.append(
                    f"{path}: button value must be a string of ≤ {MAX_BUTTON_VALUE} chars"
                )
        if isinstance(node.get("options"), list) and kind != "option_group":
            opts = node["options"]
            if len(opts) > MAX_OPTIONS:
                errors.append(f"{path}: {len(opts)} options, max {MAX_OPTIONS}")
            for i, opt in enumerate(opts):
                if not isinstance(opt, dict):
                    errors.append(f"{path}.options[{i}]: must be an object")
                    continue
                _check_text_object(
                    opt.get("text"),
                    f"{path}.options[{i}].text",
                    errors,
                    max_len=MAX_OPTION_TEXT,
                    plain_only=kind not in ("checkboxes", "radio_buttons"),
                )
                val = opt.get("value")
                if not isinstance(val, str) or len(val) > MAX_OPTION_VALUE:
                    errors.append(
                        f"{path}.options[{i}].value must be a string of ≤ {MAX_OPTION_VALUE} chars"
                    )


def _check_block_explicitly(block: dict[str, Any], where: str, errors: list[str]) -> None:
    kind = block.get("type")
    block_id = block.get("block_id")
    if block_id is not None and (not isinstance(block_id, str) or len(block_id) > MAX_BLOCK_ID):
        errors.append(f"{where}: block_id must be a string of ≤ {MAX_BLOCK_ID} chars")
    if kind == "section":
        if "text" not in block and "fields" not in block:
            errors.append(f"{where}: section needs text or fields")
        if "text" in block:
            _check_text_object(block["text"], f"{where}.text", errors, max_len=MAX_SECTION_TEXT)
        fields = block.get("fields")
        if fields is not None:
            if not isinstance(fields, list) or not 1 <= len(fields) <= MAX_SECTION_FIELDS:
                errors.append(f"{where}.fields: 1..{MAX_SECTION_FIELDS} text objects")
            else:
                for i, f in enumerate(fields):
                    _check_text_object(f, f"{where}.fields[{i}]", errors, max_len=MAX_FIELD_TEXT)
    elif kind == "header":
        _check_text_object(
            block.get("text"), f"{where}.text", errors, max_len=MAX_HEADER_TEXT, plain_only=True
        )
    elif kind == "actions":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= MAX_ACTIONS_ELEMENTS:
            errors.append(f"{where}.elements: 1..{MAX_ACTIONS_ELEMENTS} elements")
    elif kind == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= MAX_CONTEXT_ELEMENTS:
            errors.append(f"{where}.elements: 1..{MAX_CONTEXT_ELEMENTS} elements")
        else:
            for i, el in enumerate(elements):
                if isinstance(el, dict) and el.get("type") in ("plain_text", "mrkdwn"):
                    _check_text_object(
                        el, f"{where}.elements[{i}]", errors, max_len=MAX_SECTION_TEXT
                    )
    elif kind == "markdown":
        text = block.get("text")
        if not isinstance(text, str) or not 0 < len(text) <= MAX_MARKDOWN_BLOCK_TEXT:
            errors.append(f"{where}.text: markdown block text must be 1..{MAX_MARKDOWN_BLOCK_TEXT}")
    _check_elements(block, where, errors)


def validate_blocks(blocks: Any, *, max_blocks: int = MAX_MESSAGE_BLOCKS) -> list[str]:
    """Return human-readable problems with a ``blocks`` argument ([] when valid)."""
    if not isinstance(blocks, list):
        return [f"blocks must be a JSON array, got {type(blocks).__name__}"]
    errors: list[str] = []
    if len(blocks) > max_blocks:
        errors.append(f"{len(blocks)} blocks, max {max_blocks}")
    block_ids: set[str] = set()
    for i, raw in enumerate(blocks):
        where = f"blocks[{i}]"
        if not isinstance(raw, dict):
            errors.append(f"{where}: must be an object")
            continue
        try:
            parsed = Block.parse(raw)
        except Exception as exc:  # the SDK raises TypeError/ValueError on bad shapes
            errors.append(f"{where}: {type(exc).__name__}: {exc}")
            continue
        if parsed is None:
            errors.append(f"{where}: unknown block type {raw.get('type')!r}")
            continue
        try:
            parsed.to_dict()  # runs the SDK's JsonValidators (SlackObjectFormationError)
        except Exception as exc:
            errors.append(f"{where}: {type(exc).__name__}: {exc}")
        # The SDK silently accepts unknown keys; Slack answers invalid_blocks.
        unknown = set(raw) - set(parsed.attributes)
        if unknown:
            errors.append(f"{where}: unknown keys {sorted(unknown)}")
        bid = raw.get("block_id")
        if isinstance(bid, str):
            if bid in block_ids:
                errors.append(f"{where}: duplicate block_id {bid!r}")
            block_ids.add(bid)
        _check_block_explicitly(raw, where, errors)
    return errors


def validate_view(view: Any) -> list[str]:
    """Return problems with a ``view`` argument of views.open/update/push/publish."""
    if not isinstance(view, dict):
        return [f"view must be a JSON object, got {type(view).__name__}"]
    errors: list[str] = []
    try:
        View(**view).to_dict()
    except Exception as exc:
        errors.append(f"view: {type(exc).__name__}: {exc}")
    if view.get("type") == "modal":
        _check_text_object(view.get("title"), "view.title", errors, max_len=24, plain_only=True)
    errors += validate_blocks(view.get("blocks", []), max_blocks=MAX_VIEW_BLOCKS)
    return errors
