"""Answer quality of hybrid retrieval (lexical, encoder, both) on every evaluation set.

Imported by ``answer_quality.py --hybrid``; the protocol is that module's (``make_kb``): 10 shots
over seeds 0-4 and the full setting, one entry per intent. "Answered right" counts a refusal as
wrong in scope and right out of scope; the threshold is the one each knowledge base calibrates
on its own phrasings (nothing is read from the test split but the report). The typo copy of
``crosswoz_zh`` replaces each Chinese character of a test question, with probability
``TYPO_RATE``, by another character of the set with the same toneless pinyin (``random.Random(
TYPO_SEED)``).
"""

from __future__ import annotations

import dataclasses
import random
import statistics
import time
from collections import defaultdict
from collections.abc import Sequence

from bot.answerers.encoder import CachedEncoder, TextEncoder, UseEncoder
from bot.answerers.hybrid import DEFAULT_HYBRID, HybridIndex, HybridSettings
from core.knowledge.entries import KbEntry

TYPO_SEED = 12
TYPO_RATE = 0.05
MODES = ("lexical", "encoder", "hybrid")
# On the Chinese sets, also the hybrid index without the homophone fixer (its A/B).
ZH_MODES = (*MODES, "hybrid, no homophone fix")
Rows = list[tuple[str, str]]


def typo_copy(rows: Rows, pool: Sequence[str]) -> Rows:
    """``rows`` with homophone typos, as a Chinese user makes them with a pinyin keyboard: each
    Chinese character with probability ``TYPO_RATE``, and at least one per question."""
    from pypinyin import lazy_pinyin

    by_sound: dict[str, list[str]] = defaultdict(list)
    for ch in sorted({c for text in pool for c in text if "\u4e00" <= c <= "\u9fff"}):
        by_sound[lazy_pinyin(ch)[0]].append(ch)
    rng = random.Random(TYPO_SEED)
    out: Rows = []
    for text, label in rows:
        chars = list(text)
        swappable = [
            i
            for i, ch in enumerate(chars)
            if "\u4e00" <= ch <= "\u9fff" and len(by_sound[lazy_pinyin(ch)[0]]) > 1
        ]
        forced = rng.choice(swappable) if swappable else -1
        for i in swappable:
            if i == forced or rng.random() < TYPO_RATE:
                others = [c for c in by_sound[lazy_pinyin(chars[i])[0]] if c != chars[i]]
                chars[i] = rng.choice(others)
        out.append(("".join(chars), label))
    return out


def settings_for(mode: str, base: HybridSettings) -> tuple[HybridSettings, bool]:
    if mode == "lexical":
        return base, False
    if mode == "encoder":
        return dataclasses.replace(base, lexical_weight=0.0), True
    if mode == "hybrid, no homophone fix":
        return dataclasses.replace(base, fix_homophones=False), True
    return base, True


def evaluate(
    entries: list[KbEntry],
    test: Rows,
    oos: Rows,
    encoder: TextEncoder,
    base: HybridSettings,
    mode: str = "hybrid",
) -> tuple[float, float, float]:
    """(answered right in scope, top-1 in scope, out-of-scope recall or nan)."""
    settings, use = settings_for(mode, base)
    index = HybridIndex.build(entries, encoder if use else None, settings)
    right = top1 = 0
    for text, label in test:
        hits = index.search(text, 1)
        if hits and hits[0].entry.id == label:
            top1 += 1
            right += index.confident(hits[0])
    refused = sum(index.best(text) is None for text, _ in oos)
    recall = refused / len(oos) if oos else float("nan")
    return right / len(test), top1 / len(test), recall


def run(
    data: object,
    seeds: Sequence[int],
    full: bool,
    base: HybridSettings = DEFAULT_HYBRID,
    only: Sequence[str] = (),
    modes: Sequence[str] = (),
) -> None:
    """The table; ``only`` some sets (names as printed, case-insensitive), some ``modes``."""
    from answer_quality import SHOTS, make_kb, spread

    encoder = CachedEncoder(UseEncoder(), size=200_000, batch=128)
    cw = data.crosswoz  # type: ignore[attr-defined]
    sets: list[tuple[str, Rows, Rows, Rows]] = [
        ("crosswoz_zh", cw["train"], cw["test"], cw["oos_test"]),
        (
            "crosswoz_zh typos",
            cw["train"],
            typo_copy(cw["test"], [t for t, _ in cw["train"] + cw["test"]]),
            typo_copy(cw["oos_test"], [t for t, _ in cw["train"] + cw["test"]]),
        ),
        ("CLINC150", data.clinc["train"], data.clinc["test"], data.clinc["oos_test"]),  # type: ignore[attr-defined]
        ("BANKING77", data.banking_train, data.banking_test, []),  # type: ignore[attr-defined]
    ]
    print(f"settings: {base}\n")
    print("| set | setting | mode | answered right | top-1 | out-of-scope recall |")
    print("|---|---|---|---:|---:|---:|")
    if only:
        sets = [x for x in sets if x[0].lower() in {o.lower() for o in only}]
    for name, train, test, oos in sets:
        started = time.perf_counter()
        encoder.encode([t for t, _ in test + oos])  # one batched pass fills the cache
        settings_list: list[int | None] = [SHOTS] + ([None] if full else [])
        for shots in settings_list:
            for mode in ZH_MODES if name.startswith("crosswoz") else MODES:
                if modes and mode not in modes:
                    continue
                results = [
                    evaluate(make_kb(train, shots, seed)[0], test, oos, encoder, base, mode)
                    for seed in (seeds if shots else (0,))
                ]
                label = f"{shots}-shot, {len(results)} seeds" if shots else "full"
                cells = [spread([r[i] for r in results]) for i in range(2)]
                recall = [r[2] for r in results]
                oos_cell = spread(recall) if oos else "–"
                print(
                    f"| {name} | {label} | {mode} | {cells[0]} | {cells[1]} | {oos_cell} |",
                    flush=True,
                )
        print(f"<!-- {name}: {time.perf_counter() - started:.0f} s -->", flush=True)
    _ = statistics


def tune(data: object) -> None:
    """The fusion settings on training/validation data only: crosswoz_zh's ``train`` rows not
    drawn as shots (seeds 100-104; and its train out-of-scope rows), CLINC150 ``val``/``oos_val``
    (seeds 100-102). Each knowledge base calibrates its own threshold."""
    from answer_quality import SHOTS, make_kb

    encoder = CachedEncoder(UseEncoder(), size=200_000, batch=128)
    cw = data.crosswoz  # type: ignore[attr-defined]
    clinc = data.clinc  # type: ignore[attr-defined]
    encoder.encode([t for t, _ in cw["train"] + cw.get("oos_train", [])])
    encoder.encode([t for t, _ in clinc["val"] + clinc["oos_val"]])
    print(
        "| lexical weight | nearest | refusal weight zh / en | bounds "
        "| zh right | zh top-1 | zh oos | clinc right | clinc top-1 | clinc oos |"
    )
    print("|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    bounds = DEFAULT_HYBRID.threshold_bounds_by_language
    wide = (("zh", 0.3, 0.6), ("en", 0.3, 0.6))
    for w, nearest, q, q_en, b in (
        (0.5, 0.5, 0.3, 0.2, wide),  # the settings before
        (0.3, 0.0, 0.3, 0.2, wide),
        (0.2, 0.0, 0.3, 0.2, wide),
        (0.3, 0.0, 0.2, 0.2, wide),
        (0.3, 0.0, 0.3, 0.1, wide),
        (0.3, 0.0, 0.3, 0.1, (("zh", 0.3, 0.34), ("en", 0.25, 0.6))),
        (0.3, 0.0, 0.3, 0.1, bounds),  # the defaults
    ):
        s = dataclasses.replace(
            DEFAULT_HYBRID,
            lexical_weight=w,
            nearest=nearest,
            refusal_weight=q,
            refusal_weight_by_language=(("en", q_en),),
            threshold_bounds_by_language=b,
        )
        zh = [
            evaluate(*_kb_rest(cw["train"], seed), cw.get("oos_train", []), encoder, s)
            for seed in (100, 101, 102, 103, 104)
        ]
        cl = [
            evaluate(
                make_kb(clinc["train"], SHOTS, seed)[0],
                clinc["val"],
                clinc["oos_val"],
                encoder,
                s,
            )
            for seed in (100, 101, 102)
        ]
        print(
            f"| {w} | {nearest} | {q} / {q_en} | {b} "
            f"| {_mean(zh, 0)} | {_mean(zh, 1)} | {_mean(zh, 2)} "
            f"| {_mean(cl, 0)} | {_mean(cl, 1)} | {_mean(cl, 2)} |",
            flush=True,
        )


def _kb_rest(train: Rows, seed: int) -> tuple[list[KbEntry], Rows]:
    from answer_quality import SHOTS, make_kb

    return make_kb(train, SHOTS, seed)


def _mean(results: list[tuple[float, float, float]], i: int) -> str:
    return f"{statistics.mean(r[i] for r in results) * 100:.1f}"
