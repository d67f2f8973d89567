"""bench/bible_groups.py: its AUC, its census of missed gold beads, and its exit on missing data."""
import numpy as np
import pytest

from benchhelpers import bench_module


@pytest.fixture(scope="module")
def bg():
    with bench_module("bible_groups") as mod:
        yield mod


def test_auc_is_the_share_of_positive_negative_pairs_in_order(bg):
    assert bg.auc(np.array([3.0, 4.0]), np.array([1.0, 2.0])) == 1.0
    assert bg.auc(np.array([1.0, 2.0]), np.array([3.0, 4.0])) == 0.0
    assert bg.auc(np.array([1.0, 3.0]), np.array([2.0])) == 0.5
    assert bg.auc(np.array([2.0]), np.array([2.0])) == 0.5  # a tie counts half


def test_census_tells_a_split_verse_from_a_shifted_boundary(bg):
    gold = [((0, 1), (0, 1)), ((2,), (2,)), ((3,), (3,))]
    pred = [((0,), (0,)), ((1,), (1,)), ((2,), (2, 3)), ((3,), ())]
    c = bg.census(gold, pred)
    assert c == {"gold 2-2 split inside, into 1-1 + 1-1": 1, "gold 1-1 crosses a predicted boundary": 2}


def test_missing_data_is_one_line_and_exit_2(bg, tmp_path, capsys):
    assert bg.main(["--data", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bible_groups: evaluation data not found") and "\n" not in err
