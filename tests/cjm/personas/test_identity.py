import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from cjm.config_sections import PersonaSettings
from cjm.personas.fitting import fit_personas
from cjm.personas.identity import (
    PreviousPersonas,
    centroid_frame,
    match_previous,
    migrations,
    number_personas,
)
from tests.cjm.personas.test_fitting import synthetic_features


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    with threadpool_limits(1):
        yield


def previous_from(result, run_id="r1", max_id=None) -> PreviousPersonas:
    """What the next run would read back from a published result."""
    return PreviousPersonas(
        run_id=run_id,
        centroids=result.centroids[["persona_id", "feature", "value"]],
        assignments=result.customer_personas[["customer_id", "persona_id"]],
        max_persona_id=max_id or int(result.personas["persona_id"].max()),
    )


def test_hungarian_match_in_current_scale_with_a_gate():
    columns = ["a", "b"]
    # previous personas 4 (near new cluster 1) and 9 (near new cluster 0); 6 is far from all
    previous = centroid_frame(None, [4, 6, 9], columns, np.array([[12, 0], [500, 500], [0, 1]]))
    centres = np.array([[0.0, 1.2], [10.0, 0.5], [-300.0, 40.0]])
    scale = np.array([10.0, 1.0])
    radius = np.array([1.0, 1.0, 1.0])
    # cluster 2 is nearest to 6 among what is left, but 6 lies far outside its radius: no match
    assert match_previous(centres, columns, scale, radius, previous) == {0: 9, 1: 4}
    # distances are in the current run's standardised units: with a narrower spread of "a", the
    # 2-unit gap between persona 4 and cluster 1 is 20 standard deviations, no longer a match
    assert match_previous(centres, columns, np.array([0.1, 1.0]), radius, previous) == {0: 9}


def test_match_treats_features_the_previous_run_lacked_as_zero():
    previous = centroid_frame(None, [1, 2], ["a"], np.array([[0.0], [5.0]]))
    centres = np.array([[5.0, 0.1], [0.0, 0.1]])  # a new feature "b", near 0 for both
    got = match_previous(centres, ["a", "b"], np.ones(2), np.ones(2), previous)
    assert got == {0: 2, 1: 1}


def test_new_personas_never_reuse_a_retired_id():
    sizes = np.array([10, 50, 30])
    centres = np.zeros((3, 2))
    # cluster 0 kept id 2; ids up to 7 were published before (3..7 retired): new ones are 8, 9
    assert number_personas(sizes, centres, {0: 2}, next_id=8) == {0: 2, 1: 8, 2: 9}
    # first run: 1..k by size
    assert number_personas(sizes, centres, {}, next_id=1) == {1: 1, 2: 2, 0: 3}


def test_migrations_count_moves_of_customers_in_both_runs():
    previous = PreviousPersonas(
        "r1",
        pd.DataFrame(columns=["persona_id", "feature", "value"]),
        pd.DataFrame({"customer_id": ["a", "b", "c", "gone"], "persona_id": [1, 1, 2, 2]}),
        2,
    )
    current = pd.DataFrame({"customer_id": ["a", "b", "c", "new"], "persona_id": [1, 3, 2, 1]})
    got = migrations(previous, current, "r2")
    assert got.to_dict("records") == [
        {
            "previous_run_id": "r1",
            "run_id": "r2",
            "from_persona_id": 1,
            "to_persona_id": 1,
            "customer_count": 1,
            "share": 0.5,
        },
        {
            "previous_run_id": "r1",
            "run_id": "r2",
            "from_persona_id": 1,
            "to_persona_id": 3,
            "customer_count": 1,
            "share": 0.5,
        },
        {
            "previous_run_id": "r1",
            "run_id": "r2",
            "from_persona_id": 2,
            "to_persona_id": 2,
            "customer_count": 1,
            "share": 1.0,
        },
    ]
    assert migrations(None, current, "r2").empty


def test_refit_keeps_ids_of_matching_personas_whatever_their_order():
    features, truth, churned = synthetic_features()
    settings = PersonaSettings(k=3)
    first = fit_personas(features, settings, random_state=0, churned=churned)
    # the previous run numbered the same personas 7, 3, 12 (ids up to 15 were used once)
    renumber = {1: 7, 2: 3, 3: 12}
    prev = previous_from(first, max_id=15)
    prev.centroids = prev.centroids.assign(persona_id=prev.centroids["persona_id"].map(renumber))
    # new data: other customers from the same groups, another random_state for k-means
    again_features, again_truth, again_churned = synthetic_features(seed=2)
    again = fit_personas(again_features, settings, 5, again_churned, previous=prev)
    assert again.matched == 3 and "3 of 3 personas matched" in again.k_note
    assert sorted(again.personas["persona_id"]) == [3, 7, 12]
    for g in range(3):  # each true group keeps the id its persona had
        old = renumber[np.bincount(first.customer_personas["persona_id"][truth == g]).argmax()]
        new = np.bincount(again.customer_personas["persona_id"][again_truth == g]).argmax()
        assert new == old
    assert list(again.personas["persona_id"]) == [3, 7, 12]  # table ordered by id

    # k=4 splits one group: three personas keep their ids, the split-off part gets 16, above
    # every id ever used (not a free 1 or 2)
    four = fit_personas(again_features, PersonaSettings(k=4), 5, again_churned, previous=prev)
    assert list(four.personas["persona_id"]) == [3, 7, 12, 16]
    assert "3 of 4 personas matched" in four.k_note and "1 new, 0 retired" in four.k_note

    # k=2 merges two groups: one of their ids retires, and is not handed out again later
    two = fit_personas(again_features, PersonaSettings(k=2), 5, again_churned, previous=prev)
    assert set(two.personas["persona_id"]) < {3, 7, 12} and "1 retired" in two.k_note
