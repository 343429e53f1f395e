"""``aguvis data check``: records and screenshots, in parallel, non-zero exit on problems."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from aguvis.cli import main
from aguvis.data import check as check_module
from aguvis.data.check import check


def _record(image: str = "a.png", size=(64, 48), bbox=(0.1, 0.1, 0.3, 0.3), x: float = 0.2) -> dict:
    return {
        "image": image,
        "conversations": [
            {"from": "human", "value": "<image>Click OK"},
            {"from": "gpt", "value": f"pyautogui.click(x={x}, y=0.2)", "recipient": "os", "end_turn": True},
        ],
        "image_size": list(size),
        "bbox": list(bbox),
    }


def _write(folder: Path, records: list[dict], name: str = "data.jsonl") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _image(path: Path, size=(64, 48)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (0, 0, 0)).save(path)


def test_good_records_pass(tmp_path):
    _image(tmp_path / "a.png")
    summary = check(_write(tmp_path, [_record()] * 3), workers=1, progress=False)
    assert summary.ok
    assert (summary.records, summary.bad_records, summary.images) == (3, 0, 3)


@pytest.mark.parametrize(
    ("record", "kind"),
    [
        (_record(image="missing.png"), "image missing"),
        (_record(size=(100, 48)), "image size mismatch"),
        (_record(bbox=(0.3, 0.1, 0.1, 0.3)), "bbox"),
        (_record(x=1.5), "action does not parse"),
        ({"image": "a.png", "conversations": "nope"}, "record format"),
    ],
)
def test_each_problem_is_found_and_named(tmp_path, record, kind):
    _image(tmp_path / "a.png")
    summary = check(_write(tmp_path, [_record(), record]), workers=1, progress=False)
    assert not summary.ok
    assert summary.bad_records == 1
    assert kind in summary.kinds
    assert any("record 1" in example for example in summary.examples)


def test_a_packed_grounding_record_may_give_one_box_per_query(tmp_path):
    _image(tmp_path / "a.png")
    good = {**_record(), "bbox": [[0.1, 0.1, 0.3, 0.3], [0.5, 0.5, 0.9, 0.7]]}
    bad = {**_record(), "bbox": [[0.1, 0.1, 0.3, 0.3], [0.5, 0.5, 0.4, 0.7]]}
    assert check(_write(tmp_path, [good]), workers=1, progress=False).ok
    summary = check(_write(tmp_path, [good, bad]), workers=1, progress=False)
    assert summary.kinds["bbox"] == 1
    assert any("record 1" in e and "box 1:" in e and "has no area" in e for e in summary.examples)


def test_truncated_screenshot_does_not_decode(tmp_path):
    _image(tmp_path / "a.png", (400, 300))
    data = (tmp_path / "a.png").read_bytes()
    (tmp_path / "a.png").write_bytes(data[: len(data) // 2])
    summary = check(_write(tmp_path, [_record(size=(400, 300))]), workers=1, progress=False)
    assert summary.kinds["image does not decode"] == 1


def test_two_workers_find_what_one_finds(tmp_path):
    _image(tmp_path / "a.png")
    records = [_record() if i % 7 else _record(image="gone.png") for i in range(300)]
    path = _write(tmp_path, records)
    one = check(path, workers=1, progress=False)
    two = check(path, workers=2, progress=False)
    assert (
        (one.records, one.bad_records, one.kinds)
        == (two.records, two.bad_records, two.kinds)
        == (300, 43, {"image missing": 43})
    )


def test_every_core_is_used_by_default(tmp_path, monkeypatch):
    used = {}

    class Recording(check_module.ProcessPoolExecutor):
        def __init__(self, max_workers):
            used["workers"] = max_workers
            super().__init__(max_workers=max_workers)

    monkeypatch.setattr(check_module, "ProcessPoolExecutor", Recording)
    monkeypatch.setattr(check_module.os, "cpu_count", lambda: 2)
    _image(tmp_path / "a.png")
    assert check(_write(tmp_path, [_record()]), progress=False).ok
    assert used["workers"] == 2


def test_mixture_checks_each_entry_against_its_images_folder_once(tmp_path):
    _image(tmp_path / "web" / "a.png")
    _image(tmp_path / "phone" / "a.png", (30, 60))
    _write(tmp_path, [_record()], "web.jsonl")
    _write(tmp_path, [_record(size=(30, 60))], "phone.jsonl")
    (tmp_path / "mix.yaml").write_text(
        "datasets:\n"
        "  - {json_path: web.jsonl, images_folder: web, sampling_strategy: all}\n"
        "  - {json_path: web.jsonl, images_folder: web, sampling_strategy: 'random:50%'}\n"
        "  - {json_path: phone.jsonl, images_folder: phone, sampling_strategy: all}\n"
    )
    summary = check(tmp_path / "mix.yaml", workers=1, progress=False)
    assert summary.ok
    assert (summary.files, summary.records) == (2, 2)


def test_cli_exits_non_zero_on_problems(tmp_path, capsys):
    _image(tmp_path / "a.png")
    good = _write(tmp_path, [_record()], "good.jsonl")
    bad = _write(tmp_path, [_record(image="missing.png")], "bad.jsonl")
    assert main(["data", "check", str(good), "--workers", "1", "--quiet"]) == 0
    assert main(["data", "check", str(bad), "--workers", "1", "--quiet", "--json", str(tmp_path / "s.json")]) == 1
    assert "image missing: 1" in capsys.readouterr().out
    assert json.loads((tmp_path / "s.json").read_text())["problems"] == {"image missing": 1}


def test_empty_file_is_not_ok(tmp_path):
    (tmp_path / "empty.jsonl").write_text("")
    assert not check(tmp_path / "empty.jsonl", workers=1, progress=False).ok
