"""Probe a trained model on a MiniWoB++ data set's stage-1 records, teacher-forced: what it points at and reads.

The probe of ``scripts/miniwob_stage1_sweep.py`` for any model folder, such
as the ``stage1-model/`` that ``scripts/miniwob_loop.py --keep-stage1``
brings back: per task, the grounding click hit rate (and exact answers) and
the share of referring answers ("What is at (x, y)?" -> ``radio 'gHF2pKy'``)
predicted exactly. Run it on held-out screens and on screens the model
trained on: the difference is what it remembered rather than learned
(benchmarks/README.md, "What the model remembers").

    PYTHONPATH=src python scripts/miniwob_probe.py --model runs/miniwob/run15/stage1-model \\
        --data runs/miniwob/heldout50 --data runs/miniwob/data13n --sample 300 -o probe.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # scripts/ is not a package: its siblings by path
from miniwob_stage1_sweep import _load, probe  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="a model folder")
    parser.add_argument("--data", type=Path, action="append", required=True, help="a data set folder (repeatable)")
    parser.add_argument("--sample", type=int, help="records of each file at most, drawn with seed 0 (default: all)")
    parser.add_argument("-o", "--output", type=Path, help="write the results here as JSON")
    args = parser.parse_args(argv)
    for folder in args.data:
        if not (folder / "stage1.jsonl").is_file():
            parser.error(f"{folder}: no stage1.jsonl (a data set of 'aguvis data synth miniwob')")
    loaded = _load(args.model)
    results = {}
    for folder in args.data:
        results[str(folder)] = probe(loaded, folder, args.sample)
        print(json.dumps({str(folder): results[str(folder)]["summary"]}), flush=True)
    if args.output:
        args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
