"""The labelled set for reputation monitoring: agreement arithmetic, pass validation, the frozen test split."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from crisiscomms_local import labelled_set
from crisiscomms_local.labelled_set import SET_DIR, cohen_kappa, read_jsonl, sha256_file

GOLD_LABELS = ("related", "polarity", "crisis", "narrative")


def test_kappa_matches_a_worked_example() -> None:
    # 50 items: both yes 20, a yes b no 5, a no b yes 10, both no 15 -> po 0.7, pe 0.5, kappa 0.4
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)


def test_kappa_is_one_for_identical_labels_and_below_zero_for_systematic_disagreement() -> None:
    assert cohen_kappa(["a", "b", "c"], ["a", "b", "c"]) == 1.0
    assert cohen_kappa(["a", "b"] * 5, ["b", "a"] * 5) == pytest.approx(-1.0)
    with pytest.raises(ValueError):
        cohen_kappa(["a"], [])


def _label(pid: str, **over: object) -> dict:
    return {"id": pid, "related": True, "polarity": "negative", "crisis": True, "narrative": "outage", **over}


def test_a_pass_must_label_every_post_once_with_allowed_values() -> None:
    ids = {"p1", "p2"}
    assert set(labelled_set.validate_pass([_label("p1"), _label("p2")], ids, "a")) == ids
    with pytest.raises(ValueError, match="unlabelled"):
        labelled_set.validate_pass([_label("p1")], ids, "a")
    with pytest.raises(ValueError, match="twice"):
        labelled_set.validate_pass([_label("p1"), _label("p1"), _label("p2")], ids, "a")
    with pytest.raises(ValueError, match="polarity"):
        labelled_set.validate_pass([_label("p1", polarity="bad"), _label("p2")], ids, "a")
    with pytest.raises(ValueError, match="narrative"):
        labelled_set.validate_pass([_label("p1", narrative="aliens"), _label("p2")], ids, "a")


def _write(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def test_finalise_takes_agreed_labels_adjudicates_the_rest_and_freezes_the_test_split(tmp_path: Path) -> None:
    posts = [{"id": f"p{i}", "lang": "en", "platform": "x", "entity": "harbor", "styles": [], "text": f"t{i}",
              "split": "test" if i % 2 else "dev"} for i in range(4)]
    _write(tmp_path / "posts.jsonl", posts)
    _write(tmp_path / "pass_a.jsonl", [_label(f"p{i}") for i in range(4)])
    _write(tmp_path / "pass_b.jsonl", [_label("p0"), _label("p1", polarity="neutral"), _label("p2"), _label("p3")])
    with pytest.raises(ValueError, match="no adjudication"):
        _write(tmp_path / "adjudication.jsonl", [])
        labelled_set.finalise(tmp_path)
    _write(tmp_path / "adjudication.jsonl", [{**_label("p1", polarity="neutral"), "rule": "2: a report, no blame"}])
    assert labelled_set.finalise(tmp_path) == {"dev": 2, "test": 2}
    test_rows = read_jsonl(tmp_path / "test.jsonl")
    assert [r["polarity"] for r in test_rows] == ["neutral", "negative"]
    frozen = (tmp_path / "FROZEN").read_text().splitlines()
    assert frozen[0] == f"sha256 {sha256_file(tmp_path / 'test.jsonl')}  test.jsonl"
    assert frozen[1:] == ["id p1", "id p3"]


def test_an_unrelated_post_that_carries_a_crisis_label_is_refused(tmp_path: Path) -> None:
    posts = [{"id": "p0", "lang": "en", "platform": "x", "entity": "chase", "styles": [], "text": "t", "split": "dev"}]
    _write(tmp_path / "posts.jsonl", posts)
    bad = _label("p0", related=False)
    _write(tmp_path / "pass_a.jsonl", [bad])
    _write(tmp_path / "pass_b.jsonl", [bad])
    _write(tmp_path / "adjudication.jsonl", [])
    with pytest.raises(ValueError, match="unrelated"):
        labelled_set.finalise(tmp_path)


def test_a_later_batch_goes_to_dev_only_and_leaves_the_first_batch_as_it_was(tmp_path: Path) -> None:
    entities = {"harbor": {"names": ["Harbor Bank"], "ambiguous": []}, "any": {"names": [], "ambiguous": []}}
    (tmp_path / "entities.json").write_text(json.dumps(entities), encoding="utf-8")
    (tmp_path / "drafts" / "batch2").mkdir(parents=True)
    first = [{"lang": "en", "platform": "x", "entity": "harbor", "styles": [], "text": f"Harbor Bank post {i}"}
             for i in range(8)]
    _write(tmp_path / "drafts" / "en.jsonl", first)
    for name in ("zh-Hans.jsonl", "zh-Hant.jsonl"):
        _write(tmp_path / "drafts" / name, [])
    earlier = tmp_path / "earlier.jsonl"
    _write(earlier, [])
    labelled_set.assemble(tmp_path, earlier)
    before = read_jsonl(tmp_path / "posts.jsonl")
    assert Counter(p["split"] for p in before) == {"test": 4, "dev": 4}

    later = [{"lang": "en", "platform": "news", "entity": "harbor", "styles": ["news"], "text": f"Harbor Bank later {i}"}
             for i in range(3)]
    _write(tmp_path / "drafts" / "batch2" / "en-a.jsonl", [*later, first[0]])  # a repeat of a first-batch text
    _write(tmp_path / "drafts" / "batch2" / "zh-Hans-a.jsonl",
           [{"lang": "zh-Hans", "platform": "weibo", "entity": "harbor", "styles": [], "text": "港湾银行又排队了"}])
    assert labelled_set.assemble(tmp_path, earlier) == {"test": 4, "dev": 8}
    after = read_jsonl(tmp_path / "posts.jsonl")
    assert after[:len(before)] == before
    assert [(p["id"], p["split"]) for p in after[len(before):]] == [
        ("batch2-en-0001", "dev"), ("batch2-en-0002", "dev"), ("batch2-en-0003", "dev"), ("batch2-zh-Hans-0001", "dev")]
    assert labelled_set.batch_of("batch2-en-0001") == "batch2" and labelled_set.batch_of("en-0001") == "first"

    _write(tmp_path / "drafts" / "batch2" / "en-b.jsonl",
           [{"lang": "en", "platform": "x", "entity": "any", "styles": [], "text": "banks in general"}])
    with pytest.raises(ValueError, match="entity 'any'"):
        labelled_set.assemble(tmp_path, earlier)


def test_a_held_batch_is_labelled_like_the_rest_but_kept_out_of_dev(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(labelled_set, "LATER_BATCHES", ("batch2",))
    monkeypatch.setattr(labelled_set, "HELD_BATCHES", ("batch3",))
    entities = {"harbor": {"names": ["Harbor Bank"], "ambiguous": []}}
    (tmp_path / "entities.json").write_text(json.dumps(entities), encoding="utf-8")
    (tmp_path / "drafts").mkdir()
    for name in ("en.jsonl", "zh-Hans.jsonl", "zh-Hant.jsonl"):
        _write(tmp_path / "drafts" / name, [])
    for batch in ("batch2", "batch3"):
        (tmp_path / "drafts" / batch).mkdir(parents=True)
        _write(tmp_path / "drafts" / batch / "en-a.jsonl",
               [{"lang": "en", "platform": "x", "entity": "harbor", "styles": [], "text": f"Harbor Bank {batch} {i}"}
                for i in range(2)])
    earlier = tmp_path / "earlier.jsonl"
    _write(earlier, [])
    assert labelled_set.assemble(tmp_path, earlier) == {"dev": 2, "held": 2}
    labels = {"related": True, "polarity": "neutral", "crisis": False, "narrative": "none"}
    ids = [p["id"] for p in read_jsonl(tmp_path / "posts.jsonl")]
    for name in ("pass_a.jsonl", "pass_b.jsonl"):
        _write(tmp_path / name, [{"id": i, **labels} for i in ids])
    _write(tmp_path / "adjudication.jsonl", [])
    assert labelled_set.finalise(tmp_path) == {"dev": 2, "test": 0, "held": 2}
    assert [r["id"] for r in read_jsonl(tmp_path / "dev.jsonl")] == ["batch2-en-0001", "batch2-en-0002"]
    assert [r["id"] for r in read_jsonl(tmp_path / "held.jsonl")] == ["batch3-en-0001", "batch3-en-0002"]
    assert labelled_set.batch_of("batch3-en-0001") == "batch3"


def test_a_batch_keeps_its_place_when_it_moves_between_held_and_trained(tmp_path: Path, monkeypatch) -> None:
    """posts.jsonl lists the batches in the order they were written, whichever list holds them, so the
    passes' rows and the adjudication stay where they were when a held batch is trained on."""
    entities = {"harbor": {"names": ["Harbor Bank"], "ambiguous": []}}
    (tmp_path / "entities.json").write_text(json.dumps(entities), encoding="utf-8")
    (tmp_path / "drafts").mkdir()
    for name in ("en.jsonl", "zh-Hans.jsonl", "zh-Hant.jsonl"):
        _write(tmp_path / "drafts" / name, [])
    for batch in ("batch2", "batch9", "batch10"):
        (tmp_path / "drafts" / batch).mkdir(parents=True)
        _write(tmp_path / "drafts" / batch / "en-a.jsonl",
               [{"lang": "en", "platform": "x", "entity": "harbor", "styles": [], "text": f"Harbor Bank {batch}"}])
    earlier = tmp_path / "earlier.jsonl"
    _write(earlier, [])
    orders = []
    for trained, held in ((("batch2", "batch10"), ("batch9",)), (("batch2",), ("batch9", "batch10"))):
        monkeypatch.setattr(labelled_set, "LATER_BATCHES", trained)
        monkeypatch.setattr(labelled_set, "HELD_BATCHES", held)
        labelled_set.assemble(tmp_path, earlier)
        orders.append([p["id"] for p in read_jsonl(tmp_path / "posts.jsonl")])
    assert orders[0] == orders[1] == ["batch2-en-0001", "batch9-en-0001", "batch10-en-0001"]


def test_screening_leaves_out_drafts_close_to_a_test_post_and_shuffles_the_rest(tmp_path: Path) -> None:
    _write(tmp_path / "test.jsonl", [{"id": "en-0001", "text": "Harbor Bank halts withdrawals at every branch"}])
    folder = tmp_path / "drafts" / "batch12"
    folder.mkdir(parents=True)
    near = {"lang": "en", "text": "HARBOR BANK halts withdrawals at every  branch today"}
    others = [{"lang": "en", "text": f"Harbor Bank to hold its annual general meeting on day {i}"} for i in range(20)]
    _write(folder / "en.jsonl", [near, *others])
    assert labelled_set.screen(folder, tmp_path) == {"kept": 20, "left_out": 1}
    kept = read_jsonl(folder / "en.jsonl")
    assert sorted(r["text"] for r in kept) == sorted(r["text"] for r in others) and kept != others
    again = tmp_path / "again" / "batch12"
    again.mkdir(parents=True)
    _write(again / "en.jsonl", [near, *others])
    labelled_set.screen(again, tmp_path)
    assert read_jsonl(again / "en.jsonl") == kept     # seeded: the same drafts give the same order


# ---------------------------------------------------------------- the project's set
def _frozen() -> tuple[str, set[str]]:
    lines = (SET_DIR / "FROZEN").read_text(encoding="utf-8").splitlines()
    digest = lines[0].split()[1]
    return digest, {line.split(" ", 1)[1] for line in lines[1:]}


def test_the_test_split_is_unchanged_since_it_was_frozen() -> None:
    digest, ids = _frozen()
    assert sha256_file(SET_DIR / "test.jsonl") == digest
    assert {r["id"] for r in read_jsonl(SET_DIR / "test.jsonl")} == ids


def test_the_set_is_large_enough_disjoint_and_covers_what_the_guide_names() -> None:
    dev = read_jsonl(SET_DIR / "dev.jsonl")
    test = read_jsonl(SET_DIR / "test.jsonl")
    assert len(dev) + len(test) >= 1200 and len(test) >= 400
    assert not {r["id"] for r in dev} & {r["id"] for r in test}
    assert not {r["text"] for r in dev} & {r["text"] for r in test}
    for rows in (dev, test):
        langs = Counter(r["lang"] for r in rows)
        assert all(langs[lang] >= 50 for lang in ("en", "zh-Hans", "zh-Hant")), langs
        assert {"x", "weibo", "wechat", "douyin", "news"} <= {r["platform"] for r in rows}
        assert sum("ambiguous_name" in r["styles"] for r in rows) >= 60
        assert Counter(r["polarity"] for r in rows).keys() == {"negative", "neutral", "positive"}
        assert all(set(GOLD_LABELS) <= r.keys() for r in rows)


def test_agreement_is_reported_per_label() -> None:
    report = json.loads((SET_DIR / "agreement.json").read_text(encoding="utf-8"))
    assert set(GOLD_LABELS) <= report["kappa"].keys()
    assert report["posts"] == len(read_jsonl(SET_DIR / "posts.jsonl"))
