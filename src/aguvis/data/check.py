"""``aguvis data check``: every record and every screenshot, in parallel.

For each record: the JSON types, the conversation rules and action parsing of
:func:`aguvis.data.validate.validate_record`, a target ``bbox`` that is a real
normalised box, and for each screenshot that it exists, decodes (all pixels,
not just the header) and has the size the record's ``image_size`` says.

Records stream from the file (JSON arrays included) in batches to a pool of
worker processes, with a bounded number of batches in flight, so a file of
millions of records is checked in constant memory. A mixture YAML is checked
entry by entry against each entry's ``images_folder``; a file listed twice is
checked once.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aguvis.data.converters.sourcefiles import SourceFileError, iter_json_items
from aguvis.data.records import Record, RecordError, format_location
from aguvis.data.validate import validate_record

BATCH = 64
MAX_EXAMPLES = 20
_IMAGE_CACHE_LIMIT = 4096


@dataclass(frozen=True)
class RecordFile:
    """One record file and the folder its image paths are relative to."""

    path: Path
    images_root: Path


def record_files(target: str | os.PathLike[str], images_root: str | os.PathLike[str] | None = None) -> list[RecordFile]:
    """The record files a FILE or MIXTURE argument names.

    A ``.yaml``/``.yml`` is a mixture: its entries, each with its own
    ``images_folder`` (``images_root`` is then not used). Any other file is one
    record file whose images are relative to ``images_root`` (default: the
    file's folder).
    """
    target = Path(target)
    if target.suffix in (".yaml", ".yml"):
        from aguvis.data.mixture import load_mixture

        seen: set[tuple[Path, Path]] = set()
        files = []
        for entry in load_mixture(target):
            key = (entry.json_path, entry.images_folder)
            if key not in seen:
                seen.add(key)
                files.append(RecordFile(entry.json_path, entry.images_folder))
        return files
    return [RecordFile(target, Path(images_root) if images_root is not None else target.parent)]


def iter_raw_records(path: Path) -> Iterator[tuple[int, Any]]:
    """``(index, JSON object)`` of a JSON array, JSON Lines or our Parquet file, streamed."""
    if path.suffix == ".parquet":
        from aguvis.data.converters.parquet_output import read_parquet_records

        for index, record in enumerate(read_parquet_records(path)):
            yield index, record.to_json()
    else:
        yield from iter_json_items(path)


@dataclass(frozen=True)
class Finding:
    """One problem: its kind (for the summary counts) and the full message."""

    kind: str
    message: str


@dataclass
class BatchResult:
    pid: int = 0
    records: int = 0
    bad_records: int = 0
    images: int = 0
    findings: list[Finding] = field(default_factory=list)


class _ImageChecker:
    """Opens and decodes each screenshot once per worker (records often share one)."""

    def __init__(self, decode: bool) -> None:
        self.decode = decode
        self._seen: dict[Path, tuple[tuple[int, int] | None, str | None]] = {}

    def inspect(self, file: Path) -> tuple[tuple[int, int] | None, str | None]:
        """``(size, None)`` for a good image, ``(None, error)`` for a bad one."""
        if file in self._seen:
            return self._seen[file]
        from PIL import Image

        try:
            with Image.open(file) as image:
                size = (int(image.width), int(image.height))
                if self.decode:
                    image.load()
            result: tuple[tuple[int, int] | None, str | None] = (size, None)
        except (OSError, SyntaxError, ValueError) as err:  # PIL raises these for broken files
            result = (None, f"{type(err).__name__}: {err}")
        if len(self._seen) >= _IMAGE_CACHE_LIMIT:
            self._seen.clear()
        self._seen[file] = result
        return result


_CHECKER: _ImageChecker | None = None


def _kind(message: str, field_name: str | None) -> str:
    if "image file not found" in message:
        return "image missing"
    if "does not parse" in message or "holds no action" in message:
        return "action does not parse"
    if "outside [0, 1]" in message:
        return "coordinate outside [0, 1]"
    if field_name and "image" in field_name:
        return "image path"
    return "conversation"


def _bbox_problem(value: Any) -> str | None:
    """What is wrong with ``bbox``: one box, or one per query of a packed grounding record."""
    if isinstance(value, list) and value and all(isinstance(box, list) for box in value):
        for i, box in enumerate(value):
            if message := _bbox_problem(box):
                return f"box {i}: {message}"
        return None
    if not (isinstance(value, list) and len(value) == 4 and all(isinstance(v, (int, float)) for v in value)):
        return f"expected [x1, y1, x2, y2] or a list of them, got {value!r}"
    x1, y1, x2, y2 = value
    if not all(0.0 <= v <= 1.0 for v in value):
        return f"{value} is not normalised to [0, 1]"
    if not (x2 > x1 and y2 > y1):
        return f"{value} has no area"
    return None


def _declared_sizes(record: Record) -> list[Any] | None:
    """The sizes the record declares for its images: ``image_size`` ([w, h]) for
    one image, ``image_sizes`` (one per image) for several."""
    if "image_sizes" in record.extra:
        return record.extra["image_sizes"]
    if "image_size" in record.extra and len(record.images) == 1:
        return [record.extra["image_size"]]
    return None


def check_batch(path: Path, images_root: Path, batch: list[tuple[int, Any]], decode: bool) -> BatchResult:
    """Check a batch of raw records of ``path`` (runs in a worker process)."""
    global _CHECKER
    if _CHECKER is None or _CHECKER.decode != decode:
        _CHECKER = _ImageChecker(decode)
    out = BatchResult(pid=os.getpid())
    for index, obj in batch:
        out.records += 1
        findings: list[Finding] = []
        try:
            record = Record.from_json(obj, path=path, index=index)
        except RecordError as err:
            out.findings.append(Finding("record format", str(err)))
            out.bad_records += 1
            continue
        for problem in validate_record(record, images_root=images_root, check_images=True, path=path, index=index):
            findings.append(Finding(_kind(problem.message, problem.field), str(problem)))
        if "bbox" in record.extra and (message := _bbox_problem(record.extra["bbox"])):
            findings.append(Finding("bbox", format_location(path, None, index, "bbox") + message))
        declared = _declared_sizes(record)
        for i, name in enumerate(record.images):
            file = Path(name) if Path(name).is_absolute() else images_root / name
            if not file.is_file():
                continue  # validate_record reported it
            out.images += 1
            size, error = _CHECKER.inspect(file)
            where = format_location(path, None, index, "image" if len(record.images) == 1 else f"image[{i}]")
            if error is not None:
                findings.append(Finding("image does not decode", f"{where}{file}: {error}"))
            elif declared is not None and i < len(declared) and list(size) != list(declared[i]):
                findings.append(
                    Finding(
                        "image size mismatch", f"{where}{file} is {size[0]}x{size[1]} but the record says {declared[i]}"
                    )
                )
        if findings:
            out.bad_records += 1
            out.findings.extend(findings)
    return out


@dataclass
class CheckSummary:
    """Totals of a check run."""

    files: int = 0
    records: int = 0
    bad_records: int = 0
    images: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    worker_pids: set[int] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return self.records > 0 and self.bad_records == 0 and not self.kinds

    def add(self, result: BatchResult) -> None:
        self.records += result.records
        self.bad_records += result.bad_records
        self.images += result.images
        self.worker_pids.add(result.pid)
        for finding in result.findings:
            self.kinds[finding.kind] += 1
            if len(self.examples) < MAX_EXAMPLES:
                self.examples.append(finding.message)

    def to_json(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "records": self.records,
            "bad_records": self.bad_records,
            "images_checked": self.images,
            "worker_processes": len(self.worker_pids),
            "problems": dict(self.kinds.most_common()),
            "examples": self.examples,
        }

    def summary(self) -> str:
        lines = [
            f"checked {self.records} records in {self.files} file(s), {self.images} image reads, "
            f"{len(self.worker_pids)} process(es): "
            + ("OK" if self.ok else f"{self.bad_records} record(s) with problems")
        ]
        if self.records == 0:
            lines.append("  no records found")
        for kind, n in self.kinds.most_common():
            lines.append(f"  {kind}: {n}")
        for example in self.examples[:10]:
            lines.append(f"    {example}")
        return "\n".join(lines)


def _batches(path: Path, summary: CheckSummary) -> Iterator[list[tuple[int, Any]]]:
    batch: list[tuple[int, Any]] = []
    try:
        for item in iter_raw_records(path):
            batch.append(item)
            if len(batch) >= BATCH:
                yield batch
                batch = []
    except (SourceFileError, OSError) as err:
        summary.kinds["unreadable file"] += 1
        summary.examples.append(str(err))
    if batch:
        yield batch


def check(
    target: str | os.PathLike[str],
    images_root: str | os.PathLike[str] | None = None,
    *,
    workers: int | None = None,
    decode: bool = True,
    progress: bool = True,
) -> CheckSummary:
    """Check every record of a file or mixture; ``workers`` processes (default:
    every core). With ``workers=1`` everything runs in this process."""
    from tqdm import tqdm

    workers = workers or os.cpu_count() or 1
    summary = CheckSummary()
    files = record_files(target, images_root)
    bar = tqdm(unit=" records", desc="checking", disable=not progress)
    pool = ProcessPoolExecutor(max_workers=workers) if workers > 1 else None
    try:
        for file in files:
            summary.files += 1
            if not file.path.is_file():
                summary.kinds["record file missing"] += 1
                summary.examples.append(f"{file.path}: file not found")
                continue
            in_flight: list[Future[BatchResult]] = []
            for batch in _batches(file.path, summary):
                if pool is None:
                    result = check_batch(file.path, file.images_root, batch, decode)
                    summary.add(result)
                    bar.update(result.records)
                    continue
                in_flight.append(pool.submit(check_batch, file.path, file.images_root, batch, decode))
                while len(in_flight) >= workers * 4:
                    result = in_flight.pop(0).result()
                    summary.add(result)
                    bar.update(result.records)
            for future in in_flight:
                result = future.result()
                summary.add(result)
                bar.update(result.records)
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown()
    return summary
