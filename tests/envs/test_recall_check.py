"""scripts/recall_check.py: the recall sequences' layout, and that training on them learns."""

from __future__ import annotations

import json
import random

import pytest

from tests.fixtures_scripts import load_script


@pytest.fixture(scope="module")
def check():
    return load_script("recall_check")


def test_each_value_sits_its_gap_after_its_key_and_the_answer_is_the_asked_keys(check):
    layout = check.Layout(keys=3, kv_gap=2, query_gap=1)
    rng = random.Random(5)
    for _ in range(50):
        s = check.sample(layout, rng)
        assert s.ids[0] == check.BOS
        entries = s.ids[1 : 1 + 3 * 4]
        keys = entries[0::4]
        assert [entries[i + 1 : i + 3] for i in range(0, 12, 4)] == [[check.KV_FILL] * 2] * 3
        assert entries[3::4] == s.values
        assert len(set(keys)) == 3 and len(set(s.values)) == 3
        assert s.ids[13:] == [check.ASK, keys[s.asked], check.QUERY_FILL, s.values[s.asked]]


def test_the_question_first_layout_asks_before_the_list(check):
    layout = check.Layout(keys=2, query_first=True, query_gap=2)
    s = check.sample(layout, random.Random(0))
    assert s.ids[:2] == [check.BOS, check.ASK]
    asked_word = s.ids[2]
    assert s.ids[3:7:2].count(asked_word) == 1  # the asked word is one of the listed keys
    assert s.ids[-3:] == [check.QUERY_FILL, check.QUERY_FILL, s.values[s.asked]]


def test_a_template_gap_is_the_same_distinct_tokens_in_every_sample(check):
    layout = check.Layout(query_gap=3, template=True)
    rng = random.Random(2)
    gaps = {tuple(check.sample(layout, rng).ids[-4:-1]) for _ in range(20)}
    assert len(gaps) == 1
    (gap,) = gaps
    assert len(set(gap)) == 3 and min(gap) >= 4 + layout.words + layout.values and max(gap) < layout.vocab_size


def test_an_own_ask_vocabulary_names_the_asked_key_by_a_token_no_key_uses(check):
    layout = check.Layout(keys=3, query_gap=2, template=True, ask_vocab=True)
    rng = random.Random(4)
    for _ in range(30):
        s = check.sample(layout, rng)
        keys = s.ids[1:7:2]
        asked = s.ids[-4]
        assert s.ids[-5] == check.ASK and asked not in keys and asked < layout.vocab_size
        assert asked - layout.asked_word(0) == keys[s.asked] - layout.word(0)  # the same word, its own id
    assert layout.vocab_size == 4 + 10 + 10 + 2 + 10


def test_a_copy_question_is_answered_by_the_asked_word_itself(check):
    layout = check.Layout(keys=3, query_gap=2, template=True, ask_vocab=True, copy_task=True)
    rng = random.Random(6)
    for _ in range(30):
        s = check.sample(layout, rng, copy=True)
        keys = s.ids[1:7:2]
        assert s.ids[-5] == layout.copy_token == layout.vocab_size - 1
        assert s.ids[-1] == keys[s.asked] and s.ids[-1] not in s.values
    with pytest.raises(ValueError, match="no copy task"):
        check.Layout().copy_token


def test_an_adjacent_sample_drops_the_gap_and_keeps_the_length(check):
    layout = check.Layout(query_gap=2)
    rng = random.Random(3)
    gapped, adjacent = check.sample(layout, rng), check.sample(layout, rng, adjacent=True)
    assert len(gapped.ids) == len(adjacent.ids)
    assert adjacent.ids[:3] == [check.BOS] * 3 and check.QUERY_FILL not in adjacent.ids
    assert adjacent.ids[-3:-1] == [check.ASK, adjacent.ids[-3 + 1]] and adjacent.ids[-1] == adjacent.values[adjacent.asked]


def test_only_the_answer_is_labelled(check):
    layout = check.Layout()
    rng = random.Random(1)
    samples = [check.sample(layout, rng) for _ in range(4)]
    ids, labels = check.batch(samples)
    assert (labels[:, :-1] == -100).all()
    assert labels[:, -1].tolist() == [s.values[s.asked] for s in samples]


def test_adjacent_recall_is_learned_well_above_chance_in_a_few_hundred_steps(check):
    """The layout that is learned fast (key then value, question then answer): a run that failed to learn
    would answer the asked and the other key at even odds."""
    result = check.train(check.Layout(), steps=300, eval_every=150, eval_n=300)
    assert [p["step"] for p in result["curve"]] == [150, 300]
    final = result["final"]
    assert final["asked"] > 0.7 > final["other"]
    assert final["asked"] + final["other"] <= 1.0


def test_the_command_writes_its_result(check, tmp_path, capsys):
    out = tmp_path / "r" / "q.json"
    assert check.main(["--steps", "4", "--eval-every", "2", "--query-gap", "2", "--hidden", "32", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["layout"]["query_gap"] == 2 and result["chance"] == 0.5
    assert [p["step"] for p in result["curve"]] == [2, 4]
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == result["final"]


def test_a_copy_mix_is_scored_on_both_questions(check, tmp_path):
    out = tmp_path / "c.json"
    argv = ["--steps", "2", "--eval-every", "2", "--query-gap", "1", "--template", "--mix-copy", "0.5"]
    assert check.main([*argv, "--hidden", "32", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["mix_copy"] == 0.5 and result["layout"]["copy_task"] is True
    assert 0 <= result["final"]["copied"] <= 1


def test_more_keys_than_words_is_refused(check):
    with pytest.raises(SystemExit):
        check.main(["--keys", "11"])
