"""Build a benchmark corpus: N workflow scripts made from the fixtures, each one distinct.

Copy i of a fixture gets its own file name and a function of its own at the end, so no two
files share bytes (a content-keyed cache cannot answer one copy from another) nor ASTs.

    python bench/corpus.py OUT_DIR [-n 200]
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def fixtures() -> list[Path]:
    """The realistic workflows: each rule's fixtures and the clean ones (not fuzz, not hostile)."""
    return sorted(p for p in FIXTURES.glob("*/*.py") if p.parent.name.startswith("cw") or p.parent.name == "clean")


def build(out: Path, n: int = 200) -> list[Path]:
    sources = fixtures()
    if not sources:
        raise SystemExit(f"no fixtures under {FIXTURES}")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    made = []
    for i in range(n):
        source = sources[i % len(sources)]
        text = source.read_text(encoding="utf-8")
        if not text.endswith("\n"):
            text += "\n"
        text += (
            f"\n\ndef _corpus_copy_{i}(values: list[int]) -> int:\n"
            f'    """Copy {i} of {source.parent.name}/{source.name}."""\n'
            f"    return sum(values) + {i}\n"
        )
        target = out / f"{source.stem}_{i:04d}.py"
        target.write_text(text, encoding="utf-8")
        made.append(target)
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("-n", type=int, default=200)
    args = parser.parse_args()
    files = build(args.out, args.n)
    lines = sum(p.read_text(encoding="utf-8").count("\n") for p in files)
    print(f"{len(files)} files, {lines} lines in {args.out}")


if __name__ == "__main__":
    main()
