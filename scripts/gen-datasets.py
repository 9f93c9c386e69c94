#!/usr/bin/env python3
"""Writes the small datasets stackbench ships for tests and smoke runs.

Nothing is downloaded: the text is drawn, with a fixed seed, from a word
list in this file, so the output is the same on every machine. Run it
again after changing it and commit the result; the test suite checks that
the committed files are what this script writes.

  datasets/smoke.jsonl          48 JSONL entries: 36 {"prompt", "output_tokens"}
                                and 12 chat {"messages", "output_tokens"},
                                prompts of 8 to 400 words, outputs of 4 to 64
  datasets/smoke-sharegpt.json  24 ShareGPT conversations (the first human
                                turn is the prompt, the reply sets the output
                                length), plus 2 unusable items (no reply, no
                                human turn) that loaders must skip

Usage: scripts/gen-datasets.py [OUT_DIR=datasets]
"""
import json
import random
import sys
from pathlib import Path

WORDS = (
    "time year people way day man thing woman life child world school state family "
    "student group country problem hand part place case week company system program "
    "question work government number night point home water room mother area money "
    "story fact month lot right study book eye job word business issue side kind head "
    "house service friend father power hour game line end member law car city name "
    "president team minute idea kid body information back parent face others level "
    "office door health person art war history party result change morning reason "
    "research girl guy moment air teacher force education"
).split()
TOPICS = ["a garden", "the ocean", "a train trip", "mountain weather", "old maps",
          "bread baking", "city parks", "river boats", "winter nights", "small shops"]


def text(rng, words):
    return " ".join(rng.choice(WORDS) for _ in range(words))


def jsonl(rng):
    rows = []
    for i in range(48):
        words = rng.choice([8, 16, 32, 64, 128, 256, 400])
        out = rng.choice([4, 8, 16, 32, 64])
        prompt = f"Write about {rng.choice(TOPICS)}: {text(rng, words)}"
        if i % 4 == 3:
            rows.append({"messages": [
                {"role": "system", "content": "You are a concise writer."},
                {"role": "user", "content": prompt},
            ], "output_tokens": out})
        else:
            rows.append({"prompt": prompt, "output_tokens": out})
    return "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)


def sharegpt(rng):
    items = []
    for i in range(24):
        turns = [
            {"from": "human", "value": f"Tell me about {rng.choice(TOPICS)}. {text(rng, rng.randint(6, 120))}"},
            {"from": "gpt", "value": text(rng, rng.randint(4, 80))},
        ]
        if i % 3 == 0:
            turns += [{"from": "human", "value": "And then?"}, {"from": "gpt", "value": text(rng, 10)}]
        items.append({"id": f"smoke-{i}", "conversations": turns})
    items.append({"id": "no-reply", "conversations": [{"from": "human", "value": "hello"}]})
    items.append({"id": "no-human", "conversations": [{"from": "gpt", "value": "hello"}]})
    return json.dumps(items, indent=1, sort_keys=True) + "\n"


def main():
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "datasets")
    out.mkdir(parents=True, exist_ok=True)
    (out / "smoke.jsonl").write_text(jsonl(random.Random(20261127)))
    (out / "smoke-sharegpt.json").write_text(sharegpt(random.Random(1127)))


if __name__ == "__main__":
    main()
