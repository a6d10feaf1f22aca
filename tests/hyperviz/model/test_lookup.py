import numpy as np
import pytest

from hyperviz.model.lookup import completions, find_model, framing_range, model_ids, nearest_models
from hyperviz.model.selection import SelectionError

TABLE = {"model": np.array([0, 0, 1, 1, 2, 2]), "epoch": np.array([1, 0, 0, 1, 0, 1]),
         "model_id": np.array(["m00109", "m00109", "m00110", "m00110", "x7", "x7"])}


def test_find_model_by_id_any_case_ordered_by_epoch():
    np.testing.assert_array_equal(find_model(TABLE, "M00109"), [1, 0])
    np.testing.assert_array_equal(find_model(TABLE, " x7 "), [4, 5])


def test_find_model_by_a_unique_part_of_its_id():
    np.testing.assert_array_equal(find_model(TABLE, "110"), [2, 3])


@pytest.mark.parametrize("query, words", [("m001", "matches 2 models"), ("zz", "no model with id 'zz'"),
                                          ("", "type a model id")])
def test_find_model_says_what_is_wrong_in_one_line(query, words):
    with pytest.raises(SelectionError, match=words):
        find_model(TABLE, query)


def test_ids_fall_back_to_the_zoo_row():
    table = {"model": np.array([3, 12]), "epoch": np.array([0, 0])}
    assert model_ids(table).tolist() == ["3", "12"]
    assert completions(TABLE) == ["m00109", "m00110", "x7"]


def test_framing_range_pads_and_keeps_a_least_span():
    (x0, x1), (y0, y1) = framing_range(np.array([0.0, 10.0]), np.array([5.0, 5.0]), padding=0.1,
                                       min_span=(1.0, 4.0))
    assert (x0, x1) == pytest.approx((-1.0, 11.0)) and (y0, y1) == pytest.approx((3.0, 7.0))
    with pytest.raises(SelectionError):
        framing_range(np.array([np.nan]), np.array([1.0]))


def test_nearest_models_gives_each_other_models_nearest_state():
    emb = np.array([[0, 0], [0.1, 0], [1, 0], [0.2, 0], [5, 0], [3, 0]], dtype=np.float32)
    models = np.array([0, 0, 1, 1, 2, 2])
    rows, d = nearest_models(emb, 0, models, k=5)
    assert rows.tolist() == [3, 5] and d == pytest.approx([0.2, 3.0])        # not row 1: the same model
    rows, _ = nearest_models(emb, 0, models, k=5, candidates=np.array([1, 1, 1, 0, 1, 1], bool))
    assert rows.tolist() == [2, 5]                                             # row 3 hidden: model 1's next
