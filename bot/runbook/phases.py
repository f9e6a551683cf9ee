"""Which phases are *action phases* (SPEC §11): one rule, shared by the parser
(an action phase without steps runs as one step) and ``lint --fix`` (whose
bullets it numbers).

Besides the English words, teams write their phases in their own language: one
table of words below, plus a repository's own words (``action_phases`` in its
``.runbook-bot.yaml``), all matched by the same rule.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache

__all__ = [
    "ACTION_WORDS",
    "ENGLISH_WORDS",
    "is_action_phase",
    "is_rollback_name",
    "looked_for",
]

# Whole words; a trailing \w* where the contract says "…" (mitigat… → Mitigation).
# "contain…" means containment, not "Containers" (a section about pods is not an action).
_ACTION_RE = re.compile(
    r"\b(?:steps?|procedures?|instructions?|how[- ]to|runbook|resol\w*|mitigat\w*"
    r"|remediat\w*|recover\w*|restor\w*|diagnos\w*|troubleshoot\w*|investigat\w*|triage"
    r"|contain(?!ers?\b)\w*|immediate|actions?|verif\w*|validat\w*|execut\w*"
    r"|fail[- ]?over|workarounds?|fix\w*)\b",
    re.IGNORECASE,
)
# The English words above as an author reads them (for lint's explanations).
ENGLISH_WORDS = (
    "step(s), procedure(s), instruction(s), how to, runbook, resol…, mitigat…, remediat…, "
    "recover…, restor…, diagnos…, troubleshoot…, investigat…, triage, contain…, immediate, "
    "action(s), verif…, validat…, execut…, failover, workaround(s), fix…"
)

# The words of the languages teams write runbooks in. Words in a script written
# without spaces (Chinese, Japanese) match anywhere in a phase name; the others
# match a word that starts with them, in any case ("Étapes", "ÜBERPRÜFUNG").
ACTION_WORDS: dict[str, tuple[str, ...]] = {
    "Chinese": tuple("步骤 操作 处理 解决 缓解 修复 恢复 诊断 排查 调查 验证 执行 应急".split()),
    "Japanese": tuple("手順 対処 対応 解決 緩和 修復 復旧 診断 調査 検証 実行".split()),
    "German": tuple(
        "schritt vorgehen anleitung lösung behebung abhilfe wiederherstell diagnose "
        "fehlersuche untersuch überprüf validier ausführ maßnahme".split()
    ),
    "French": tuple(
        "étape procédure résolution résoudre atténuation remédiation récupération "
        "restauration diagnostic dépannage investigation vérification validation "
        "exécution action".split()
    ),
    "Spanish": tuple(
        "paso procedimiento resolución resolver mitigación remediación recuperación "
        "restauración diagnóstico investigación verificación validación ejecución "
        "acción acciones".split()
    ),
    "Portuguese": tuple(
        "passo procedimento resolução resolver mitigação remediação recuperação "
        "restauração diagnóstico investigação verificação validação execução "
        "ação ações".split()
    ),
}

# Records and pointers, not actions: "Validation Log", "Related runbooks", "Verification history".
_RECORD_RE = re.compile(
    r"\b(?:related|see also)\b|\b(?:log|history|records?|results)\s*$", re.IGNORECASE
)
_UNSPACED_SCRIPTS = ("CJK ", "HIRAGANA", "KATAKANA")


def is_rollback_name(name: str) -> bool:
    """A "Rollback" / "Roll back" phase is offered on abort, not run in the normal flow."""
    return name.strip().lower().startswith(("rollback", "roll back"))


def is_action_phase(name: str, extra: Sequence[str] = ()) -> bool:
    """Phases that say what to do (Steps, Mitigation, 缓解, Behebung, ...).

    ``extra``: the repository's own words (``action_phases`` in ``.runbook-bot.yaml``).
    """
    if is_rollback_name(name) or _RECORD_RE.search(name.strip()):
        return False
    if _ACTION_RE.search(name) is not None:
        return True
    return _matcher(tuple(extra)).search(_fold(name)) is not None


def looked_for(extra: Sequence[str] = ()) -> str:
    """Every word a phase name is checked for, by language, for lint's "no steps" message."""
    parts = [f"English: {ENGLISH_WORDS}"]
    parts += [f"{language}: {' '.join(words)}" for language, words in ACTION_WORDS.items()]
    if extra:
        parts.append(f".runbook-bot.yaml: {', '.join(extra)}")
    return "; ".join(parts)


def _fold(text: str) -> str:
    """Compare as a reader would: composed accents, no case ("Maßnahme" = "MASSNAHME")."""
    return unicodedata.normalize("NFC", text).casefold()


def _unspaced(word: str) -> bool:
    return any(unicodedata.name(ch, "").startswith(_UNSPACED_SCRIPTS) for ch in word)


@lru_cache(maxsize=64)
def _matcher(extra: tuple[str, ...]) -> re.Pattern[str]:
    words = [*(w for group in ACTION_WORDS.values() for w in group), *extra]
    return _compile(_fold(w.strip()) for w in words if w.strip())


def _compile(words: Iterable[str]) -> re.Pattern[str]:
    # Longest first, so a word is never cut short by a shorter one it starts with.
    ordered = sorted(set(words), key=lambda w: (-len(w), w))
    anywhere = [re.escape(w) for w in ordered if _unspaced(w)]
    starts = [re.escape(w) for w in ordered if not _unspaced(w)]
    alternatives = []
    if anywhere:
        alternatives.append("(?:" + "|".join(anywhere) + ")")
    if starts:
        alternatives.append(r"(?<!\w)(?:" + "|".join(starts) + ")")
    return re.compile("|".join(alternatives) or r"(?!)")
