"""Answer quality of the built-in knowledge-base index on BANKING77 and CLINC150.

One FAQ entry per intent (see the evaluation README). In the 10-shot setting one
``random.Random(seed)`` goes through the intents in name order and, for each, ``sample``s 11 of
its training utterances (listed in file order): the first is the entry's question, the other 10
its similar questions. Seeds 0 to 4 are reported (mean, lowest, highest). In the full setting
the question is the intent's first training utterance and every other one a similar question.

A test question counts as answered correctly only when ``best()`` returns its intent's entry:
a refusal (below the threshold) is wrong for an in-scope question and right for an
out-of-scope one. "Top-1" ignores the threshold and only checks the ranking.

The feature weights, the nearest-phrasing share, the character n-grams and the threshold in
``IndexSettings`` were chosen with ``--tune``, which looks only at training and validation data:
BANKING77 training utterances not drawn as shots (it has no validation split) and CLINC150
``val``/``oos_val``. Test splits are only read for the report. (The function-word prior and the
CJK n-grams were set on the bilingual FAQ in the tests, the shortlist for speed.)
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import random
import statistics
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.answerers.retrieval import DEFAULT_SETTINGS, IndexSettings, KnowledgeBaseIndex
from core.knowledge.entries import KbEntry

DEFAULT_EVAL_DIR = Path(__file__).resolve().parents[2] / "shared" / "eval"
SHOTS = 10
SEEDS = (0, 1, 2, 3, 4)
TUNE_OOS_RECALL = 0.55
TARGETS = {"banking77 10-shot": 0.80, "clinc150 10-shot": 0.85, "clinc150 10-shot oos recall": 0.50}

Rows = list[tuple[str, str]]  # (text, intent)


@dataclass(frozen=True)
class EvalData:
    banking_train: Rows
    banking_test: Rows
    clinc: dict[str, Rows]
    crosswoz: dict[str, Rows] = dataclasses.field(default_factory=dict)


def load(eval_dir: Path) -> EvalData:
    def read_csv(path: Path) -> Rows:
        with path.open(encoding="utf-8", newline="") as fh:
            return [(row["text"], row["category"]) for row in csv.DictReader(fh)]

    clinc_raw = json.loads((eval_dir / "clinc150" / "data_full.json").read_text(encoding="utf-8"))
    return EvalData(
        banking_train=read_csv(eval_dir / "banking77" / "train.csv"),
        banking_test=read_csv(eval_dir / "banking77" / "test.csv"),
        clinc={split: [(t, i) for t, i in rows] for split, rows in clinc_raw.items()},
        crosswoz=load_crosswoz(eval_dir),
    )


def load_crosswoz(eval_dir: Path) -> dict[str, Rows]:
    """``train``/``test`` in-scope rows and ``oos_train``/``oos_test`` out-of-scope ones."""
    out: dict[str, Rows] = defaultdict(list)
    path = eval_dir / "crosswoz_zh" / "faq_intents.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            key = ("oos_" if row["label"] == "oos" else "") + row["split"]
            out[key].append((row["text"], row["label"]))
    return dict(out)


def make_kb(train: Rows, shots: int | None, seed: int = 0) -> tuple[list[KbEntry], Rows]:
    """Entries (one per intent) and the training utterances left out of them."""
    by_intent: dict[str, list[str]] = defaultdict(list)
    for text, intent in train:
        by_intent[intent].append(text)
    rng = random.Random(seed)
    entries: list[KbEntry] = []
    rest: Rows = []
    for intent in sorted(by_intent):
        texts = by_intent[intent]
        picked = texts if shots is None else rng.sample(texts, shots + 1)
        chosen = set(picked)
        rest += [(t, intent) for t in texts if t not in chosen]
        entries.append(
            KbEntry(
                id=intent,
                question=picked[0],
                answer=f"This is the answer about {intent}.",
                similar=tuple(picked[1:]),
            )
        )
    return entries, rest


@dataclass(frozen=True)
class Result:
    answered: float  # best() gave the right entry
    top1: float  # search() ranked the right entry first
    refused: float  # best() gave None


def score_rows(index: KnowledgeBaseIndex, rows: Rows) -> list[tuple[bool, float]]:
    """(top-1 right, top score) for each row; the score decides refusal at any threshold."""
    out = []
    for text, intent in rows:
        hits = index.search(text, 1)
        out.append((bool(hits) and hits[0].entry.id == intent, hits[0].score if hits else 0.0))
    return out


def summarise(scored: Sequence[tuple[bool, float]], threshold: float) -> Result:
    n = len(scored)
    return Result(
        answered=sum(ok and s >= threshold for ok, s in scored) / n,
        top1=sum(ok for ok, _ in scored) / n,
        refused=sum(s < threshold for _, s in scored) / n,
    )


def oos_recall(scores: Iterable[float], threshold: float) -> float:
    values = list(scores)
    return sum(s < threshold for s in values) / len(values)


def spread(values: Sequence[float]) -> str:
    if len(values) == 1:
        return f"{values[0] * 100:.1f}"
    return f"{statistics.mean(values) * 100:.1f} ({min(values) * 100:.1f}–{max(values) * 100:.1f})"


def report(data: EvalData, settings: IndexSettings) -> dict[str, float]:
    th = settings.threshold
    print(f"settings: {settings}\n")
    print(
        "| set | setting | entries | phrasings/entry | test questions | answered correctly "
        "| top-1 (no threshold) | refused |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    figures: dict[str, float] = {}
    oos_lines = []
    for name, train, test in (
        ("BANKING77", data.banking_train, data.banking_test),
        ("CLINC150", data.clinc["train"], data.clinc["test"]),
    ):
        for shots in (SHOTS, None):
            seeds = SEEDS if shots else (0,)
            answered, top1, refused, recall = [], [], [], []
            for seed in seeds:
                entries, _ = make_kb(train, shots, seed)
                index = KnowledgeBaseIndex.build(entries, settings)
                r = summarise(score_rows(index, test), th)
                answered.append(r.answered)
                top1.append(r.top1)
                refused.append(r.refused)
                if name == "CLINC150":
                    oos = [s for _, s in score_rows(index, data.clinc["oos_test"])]
                    recall.append(oos_recall(oos, th))
            label = f"{shots}-shot, seeds {seeds[0]}–{seeds[-1]}" if shots else "full"
            per_entry = statistics.mean(len(e.phrasings) for e in entries)
            print(
                f"| {name} | {label} | {len(entries)} | {per_entry:.0f} | {len(test)} "
                f"| {spread(answered)} | {spread(top1)} | {spread(refused)} |"
            )
            key = f"{name.lower()} {'10-shot' if shots else 'full'}"
            figures[key] = statistics.mean(answered)
            if recall:
                figures[f"{key} oos recall"] = statistics.mean(recall)
                oos_lines.append(
                    f"| {label} | {spread(answered)} | {spread(recall)} "
                    f"| {len(data.clinc['oos_test'])} |"
                )
    print(f"\nCLINC150 out-of-scope, same index and threshold ({th}):\n")
    print(
        "| setting | in-scope answered correctly | out-of-scope refused (recall) | oos questions |"
    )
    print("|---|---:|---:|---:|")
    for line in oos_lines:
        print(line)
    print("\n| target | required | measured | |")
    print("|---|---:|---:|---|")
    for key, need in TARGETS.items():
        got = figures[key]
        verdict = "met" if got >= need else "MISSED"
        print(f"| {key} | {need * 100:.0f} % | {got * 100:.1f} % | {verdict} |")
    return figures


def tune(data: EvalData) -> None:
    """Grid search on training/validation data only; prints every candidate, then the choice."""
    candidates: list[dict[str, object]] = []
    for weights in ((1.0, 1.0, 1.0, 1.0), (2.0, 1.0, 1.0, 1.0), (3.0, 1.0, 1.0, 1.0),
                    (2.0, 1.5, 1.0, 1.0)):  # fmt: skip
        for nearest in (0.2, 0.35, 0.5):
            for chars in ((2, 4), (2, 5)):
                candidates.append({"weights": weights, "nearest": nearest, "char_ngrams": chars})
    tune_seeds = (100, 101)  # not the reported seeds, so that the shots drawn differ too
    print("mean | BANKING77 10-shot | CLINC150 10-shot | CLINC150 full | settings (top-1, val)")
    best: tuple[float, IndexSettings] | None = None
    for change in candidates:
        settings = dataclasses.replace(DEFAULT_SETTINGS, **change)  # type: ignore[arg-type]
        bank, clinc = [], []
        for seed in tune_seeds:
            entries, rest = make_kb(data.banking_train, SHOTS, seed)
            index = KnowledgeBaseIndex.build(entries, settings)
            bank.append(summarise(score_rows(index, rest[::3]), 0).top1)
            entries, _ = make_kb(data.clinc["train"], SHOTS, seed)
            index = KnowledgeBaseIndex.build(entries, settings)
            clinc.append(summarise(score_rows(index, data.clinc["val"]), 0).top1)
        entries, _ = make_kb(data.clinc["train"], None)
        index = KnowledgeBaseIndex.build(entries, settings)
        full = summarise(score_rows(index, data.clinc["val"]), 0).top1
        mean = (statistics.mean(bank) + statistics.mean(clinc) + full) / 3
        print(
            f"{mean * 100:.2f} | {statistics.mean(bank) * 100:.1f} | "
            f"{statistics.mean(clinc) * 100:.1f} | {full * 100:.1f} | {change}",
            flush=True,
        )
        if best is None or mean > best[0] + 1e-9:
            best = (mean, settings)
    assert best is not None
    chosen = best[1]
    print(f"\nbest ranking settings: {chosen}")
    print("\nthreshold on CLINC150 val / oos_val (10-shot with the tuning seeds, and full):\n")
    print("| threshold | 10-shot in-scope | 10-shot oos recall | full in-scope | full oos recall |")
    print("|---:|---:|---:|---:|---:|")
    runs: list[tuple[list[tuple[bool, float]], list[float]]] = []
    for shots, seeds in ((SHOTS, tune_seeds), (None, (0,))):
        in_scope: list[tuple[bool, float]] = []
        out_of_scope: list[float] = []
        for seed in seeds:
            entries, _ = make_kb(data.clinc["train"], shots, seed)
            index = KnowledgeBaseIndex.build(entries, chosen)
            in_scope += score_rows(index, data.clinc["val"])
            out_of_scope += [s for _, s in score_rows(index, data.clinc["oos_val"])]
        runs.append((in_scope, out_of_scope))
    chosen_threshold: float | None = None
    for step in range(10, 41):
        threshold = step / 100
        cells = []
        recalls = []
        for in_scope, out_of_scope in runs:
            recalls.append(oos_recall(out_of_scope, threshold))
            cells += [
                f"{summarise(in_scope, threshold).answered * 100:.1f}",
                f"{recalls[-1] * 100:.1f}",
            ]
        print(f"| {threshold:.2f} | " + " | ".join(cells) + " |")
        if chosen_threshold is None and min(recalls) >= TUNE_OOS_RECALL:
            chosen_threshold = threshold
    print(
        f"\nthe lowest threshold refusing at least {TUNE_OOS_RECALL * 100:.0f} % of oos_val in "
        f"both settings (the 50 % target plus a margin for a 100-question split): "
        f"{chosen_threshold}"
    )


def baselines(data: EvalData) -> None:
    """Other methods on the same knowledge bases and test questions, top-1 only (no refusal).

    They use scikit-learn (imported here only): TF-IDF 1-nearest-neighbour over phrasings, and a
    multinomial logistic regression over word and character TF-IDF (C=30, picked on the same
    validation data as the index's settings). The regression needs one dense weight row per
    entry and minutes of training at 10,000 entries, which is why the product does not use it.
    """
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion

    def vectorizer(char: bool) -> FeatureUnion:
        parts = [("w", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True))]
        if char:
            parts.append(
                ("c", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True))
            )
        return FeatureUnion(parts)

    print("| set | setting | TF-IDF words 1-NN | TF-IDF words+chars 1-NN | logistic regression |")
    print("|---|---|---:|---:|---:|")
    for name, train, test in (
        ("BANKING77", data.banking_train, data.banking_test),
        ("CLINC150", data.clinc["train"], data.clinc["test"]),
    ):
        for shots in (SHOTS, None):
            results: dict[str, list[float]] = defaultdict(list)
            for seed in SEEDS if shots else (0,):
                entries, _ = make_kb(train, shots, seed)
                texts = [p for e in entries for p in e.phrasings]
                labels = np.array([e.id for e in entries for _ in e.phrasings])
                questions = [t for t, _ in test]
                truth = np.array([i for _, i in test])
                for key, char in (("words", False), ("chars", True)):
                    vec = vectorizer(char)
                    x = vec.fit_transform(texts)
                    nearest = np.asarray((vec.transform(questions) @ x.T).argmax(axis=1)).ravel()
                    results[key].append(float((labels[nearest] == truth).mean()))
                vec = vectorizer(True)
                model = LogisticRegression(C=30, max_iter=3000)
                model.fit(vec.fit_transform(texts), labels)
                predicted = model.predict(vec.transform(questions))
                results["lr"].append(float((predicted == truth).mean()))
            label = f"{shots}-shot" if shots else "full"
            cells = " | ".join(spread(results[k]) for k in ("words", "chars", "lr"))
            print(f"| {name} | {label} | {cells} |", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval-dir", type=Path, default=DEFAULT_EVAL_DIR)
    parser.add_argument(
        "--tune", action="store_true", help="search settings on train/val data instead"
    )
    parser.add_argument(
        "--baselines", action="store_true", help="compare other methods (needs scikit-learn)"
    )
    parser.add_argument("--threshold", type=float, help="override the index's threshold")
    parser.add_argument(
        "--hybrid", action="store_true", help="lexical, encoder and hybrid on every set"
    )
    parser.add_argument("--seeds", type=int, default=len(SEEDS), help="10-shot seeds (hybrid)")
    parser.add_argument("--no-full", action="store_true", help="skip the full setting (hybrid)")
    parser.add_argument(
        "--set", action="append", default=[], help="only this set, e.g. BANKING77 (hybrid)"
    )
    parser.add_argument(
        "--mode", action="append", default=[], help="only this mode, e.g. hybrid (hybrid)"
    )
    args = parser.parse_args()
    data = load(args.eval_dir)
    if args.hybrid and args.tune:
        from hybrid_quality import tune as tune_hybrid

        tune_hybrid(data)
        return 0
    if args.hybrid:
        from hybrid_quality import run

        run(data, SEEDS[: args.seeds], not args.no_full, only=args.set, modes=args.mode)
        return 0
    if args.tune:
        tune(data)
        return 0
    if args.baselines:
        baselines(data)
        return 0
    settings = DEFAULT_SETTINGS
    if args.threshold is not None:
        settings = dataclasses.replace(settings, threshold=args.threshold)
    report(data, settings)
    return 0  # like the other benches: the verdicts are printed, the exit status stays 0


if __name__ == "__main__":
    raise SystemExit(main())
