"""bench/align_mac.py: its bead-type census and its exit on missing data."""
import pytest

from benchhelpers import bench_module


@pytest.fixture(scope="module")
def am():
    with bench_module("align_mac") as mod:
        yield mod


def test_type_census_counts_a_split_group_as_one_missed_and_two_wrong(am):
    gold = [((0, 1), (0, 1, 2)), ((2,), (3,)), ((3,), ())]
    pred = [((0,), (0,)), ((1,), (1, 2)), ((2,), (3,)), ((3,), ())]
    c = am.type_census(gold, pred)
    assert c == {(2, 3): [1, 1, 0, 0], (1, 1): [1, 0, 2, 1], (1, 2): [0, 0, 1, 1], (1, 0): [1, 0, 1, 0]}


def test_missing_data_is_one_line_and_exit_2(am, tmp_path, capsys):
    assert am.main(["--data", str(tmp_path / "nowhere"), "--chapters", "001"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("align_mac: evaluation data not found")
    assert "\n" not in err
