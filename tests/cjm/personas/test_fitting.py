import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score
from threadpoolctl import threadpool_limits

from cjm.config_sections import EntityNoun, PersonaSettings
from cjm.db import connect
from cjm.personas import clustering, fitting
from cjm.personas.clustering import (
    choose_k,
    make_persona_pipeline,
    persona_feature_columns,
    persona_matrix,
)
from cjm.personas.features import customer_features
from cjm.personas.fitting import fit_personas
from cjm.personas.naming import PERSONA_COLUMNS

# Three behavioural groups: (signature touchpoint, its channel, sessions per week, churn chance)
GROUPS = [
    ("app_open", "mobile_app", 5.0, 0.05),
    ("email_click", "email", 1.0, 0.40),
    ("store_visit", "store", 0.4, 0.20),
]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # OpenMP in k-means crawls when the (shared, 2-core) machine is busy; one thread keeps these
    # tests fast and their timing stable.
    with threadpool_limits(1):
        yield


def synthetic_features(n_per_group=150, seed=1):
    """Customer feature rows in three well-separated groups, plus true group and churn labels."""
    rng = np.random.default_rng(seed)
    rows, truth, churned = [], [], []
    for g, (_, _, spw, churn) in enumerate(GROUPS):
        for i in range(n_per_group):
            mix = rng.dirichlet([1, 1, 1]) * 0.4
            mix[g] += 0.6
            channels = rng.dirichlet([1, 1, 1]) * 0.3
            channels[g] += 0.7
            row = {
                "customer_id": f"g{g}-{i:03d}",
                "recency_days": rng.uniform(0, 30),  # not a clustering input
                "sessions_per_week": spw * rng.lognormal(0, 0.2),
                "events_per_session": 3 * rng.lognormal(0, 0.2),
                "mean_session_seconds": 300 * rng.lognormal(0, 0.3),
                "weekend_share": rng.uniform(0, 0.4),
                "night_share": rng.uniform(0, 0.2),
                "is_converted": int(rng.random() < 0.3),
                "monetary": float(rng.gamma(2, 20)),
            }
            row["frequency"] = max(1, round(8 * row["sessions_per_week"]))  # over eight weeks
            row |= {f"tp_{GROUPS[j][0]}": mix[j] for j in range(3)}
            row |= {f"tp30_{GROUPS[j][0]}": int(10 * mix[j]) for j in range(3)}
            row |= {f"ch_{GROUPS[j][1]}": channels[j] for j in range(3)}
            rows.append(row)
            truth.append(g)
            churned.append(rng.random() < churn)
    features = pd.DataFrame(rows)
    return features, np.array(truth), pd.Series(churned, index=features["customer_id"])


def test_clustering_inputs_are_mix_and_rhythm_only():
    features, _, _ = synthetic_features(5)
    columns = persona_feature_columns(features)
    assert "recency_days" not in columns and "monetary" not in columns
    assert "is_converted" not in columns and "customer_id" not in columns
    assert not any(c.startswith("tp30_") for c in columns)
    assert {"tp_app_open", "ch_email", "sessions_per_week", "night_share"} <= set(columns)


def test_recovers_well_separated_groups_with_automatic_k():
    features, truth, churned = synthetic_features()
    settings = PersonaSettings(k="auto", k_min=2, k_max=6, fit_sample_size=200)
    result = fit_personas(features, settings, random_state=0, churned=churned)
    assert result.k == 3
    assert "Calinski-Harabasz" in result.k_note
    assert len(result.customer_personas) == len(features)  # fitted on 200, everyone assigned
    assert adjusted_rand_score(truth, result.customer_personas["persona_id"]) >= 0.9

    personas = result.personas
    assert list(personas.columns) == PERSONA_COLUMNS
    assert sorted(personas["persona_id"]) == [1, 2, 3]
    assert personas["customer_count"].sum() == len(features)
    assert personas["share"].sum() == pytest.approx(1.0)
    assert personas["name"].is_unique
    # each group's persona is named after its signature touchpoint and described in numbers
    assigned = result.customer_personas["persona_id"].to_numpy()
    for g, (touchpoint, channel, _, _) in enumerate(GROUPS):
        pid = np.bincount(assigned[truth == g]).argmax()
        row = personas.set_index("persona_id").loc[pid]
        assert touchpoint in row["name"]
        assert row["top_touchpoints"].startswith(touchpoint + " (")
        assert row["top_channels"].startswith(channel + " (")
        assert "%" in row["description"]
    app = personas.set_index("persona_id").loc[np.bincount(assigned[truth == 0]).argmax()]
    assert app["name"].startswith("Regular mobile app customers: app_open")
    assert "low churn" in app["description"]
    assert app["churn_rate"] < personas["churn_rate"].max()


def test_same_random_state_gives_identical_ids_and_assignments():
    features, _, churned = synthetic_features()
    settings = PersonaSettings(k="auto", k_max=5, fit_sample_size=200)
    first = fit_personas(features, settings, random_state=7, churned=churned)
    again = fit_personas(features, settings, random_state=7, churned=churned)
    shuffled = fit_personas(features.sample(frac=1.0, random_state=3), settings, 7, churned)
    for other in (again, shuffled):  # input row order does not matter either
        pd.testing.assert_frame_equal(first.personas, other.personas)
        pd.testing.assert_frame_equal(first.customer_personas, other.customer_personas)
    # ids ordered by size, largest first
    assert first.personas["customer_count"].is_monotonic_decreasing


def test_fixed_k_and_no_churn_labels():
    features, _, _ = synthetic_features(40)
    result = fit_personas(features, PersonaSettings(k=2), random_state=0)
    assert result.k == 2 and "configuration" in result.k_note
    assert result.personas["churn_rate"].isna().all()
    assert result.personas["description"].str.contains("Churn rate not computed").all()
    assert (result.customer_personas["distance_to_centroid"] >= 0).all()


def test_descriptions_use_the_entity_noun_and_no_session_words():
    features, _, churned = synthetic_features(40)
    ticket = EntityNoun(singular="ticket", plural="tickets")
    result = fit_personas(features, PersonaSettings(k=3), 0, churned, entity=ticket)
    for description in result.personas["description"]:
        assert "session" not in description.lower(), description
        assert "customer" not in description.lower(), description
        assert (
            "bursts of activity a week since the ticket's first event (all tickets" in description
        )


def test_choose_k_prefers_the_true_number_and_degenerates_to_one():
    features, _, _ = synthetic_features(60)
    X = persona_matrix(features, persona_feature_columns(features))
    assert choose_k(X, 2, 6, random_state=0) == 3
    assert choose_k(np.ones((10, 3)), 2, 6, random_state=0) == 1


def test_pipeline_is_sklearn_style():
    pipe = make_persona_pipeline(3, random_state=0)
    assert pipe.named_steps["kmeans"].n_init >= 4
    fitted = pipe.fit(np.random.default_rng(0).normal(size=(30, 2)))
    assert fitted is pipe and pipe[-1].cluster_centers_.shape == (3, 2)


def test_tiny_log_without_channels_or_revenue_from_sql():
    con = connect()
    con.execute(
        "create table events as select * from (values "
        "('1', 'x', timestamptz '2024-01-01 10:00+00', 'Add to Cart', 's1'),"
        "('2', 'x', timestamptz '2024-01-02 10:00+00', 'Add to Cart', 's2'),"
        "('3', 'y', timestamptz '2024-01-01 11:00+00', 'browse', 's3')"
        ") t(event_id, customer_id, event_time, touchpoint, session_id)"
    )
    for column in (
        "channel varchar",
        "stage varchar",
        "revenue double",
        "sentiment double",
        "is_conversion boolean",
        "event_index bigint",
    ):
        con.execute(f"alter table events add column {column}")
    features = customer_features(con)
    result = fit_personas(features, PersonaSettings(), random_state=0)
    assert result.k >= 1 and len(result.customer_personas) == 2
    text = " ".join(result.personas["description"])
    assert "no channel data" in text and "no revenue" in text
    # the original touchpoint name, not the sanitised column, appears in the table
    assert "Add to Cart" in " ".join(result.personas["top_touchpoints"].dropna())


def test_no_customers():
    features, _, _ = synthetic_features(1)
    result = fit_personas(features.iloc[0:0], PersonaSettings(), random_state=0)
    assert result.personas.empty and result.customer_personas.empty and result.pipeline is None


def test_automatic_k_is_not_swayed_by_a_handful_of_outliers():
    # ten customers (2%) of one group also use a rare touchpoint heavily: standardised, that
    # share puts them 10+ standard deviations from everyone; clipped at 3, they stay in their group
    features, truth, churned = synthetic_features()
    features["tp_rare_page"] = 0.0
    features.loc[:9, "tp_rare_page"] = 0.5
    settings = PersonaSettings(k="auto", k_min=2, k_max=6, fit_sample_size=1000)
    result = fit_personas(features, settings, random_state=0, churned=churned)
    assert max(result.score_by_k, key=result.score_by_k.get) == 3
    assert result.k == 3
    assert adjusted_rand_score(truth, result.customer_personas["persona_id"]) >= 0.9


def test_automatic_k_passes_over_k_with_a_persona_too_small_to_act_on():
    # four well-separated blobs, one of them 10 customers (2.2%): the index prefers k=4, but a
    # persona under 3% of customers is not worth a campaign
    rng = np.random.default_rng(0)
    centres = [((0, 0), 150), ((4, 0), 150), ((0, 4), 150), ((4, 4), 10)]
    X = np.vstack([rng.normal(c, 0.3, (n, 2)) for c, n in centres])
    k, scores, _, small = clustering._choose_k(X, 2, 6, random_state=0)
    assert max(scores, key=scores.get) == 4 and 4 in small
    assert k == 3 == choose_k(X, 2, 6, random_state=0)


def test_a_one_off_exit_session_does_not_outweigh_habits():
    # 12% of customers, spread over all three groups, ended with one complaint > refund >
    # cancellation session (each 4% of their events). Each exit touchpoint standardised on its own
    # would put them 3 standard deviations out on three columns at once, as far as the groups are
    # apart; with the shares' scales floored at their typical spread they stay in their group.
    features, truth, churned = synthetic_features()
    fading = np.random.default_rng(3).random(len(features)) < 0.12
    for column in ("tp_complaint", "tp_refund_request", "tp_cancel_page"):
        features[column] = np.where(fading, 0.04, 0.0)
    settings = PersonaSettings(k="auto", k_min=2, k_max=6, fit_sample_size=1000)
    result = fit_personas(features, settings, random_state=0, churned=churned)
    assert result.k == 3
    assert adjusted_rand_score(truth, result.customer_personas["persona_id"]) >= 0.95
    scaler = result.pipeline.named_steps["scale"]
    mix = np.array(clustering.mix_flags(result.feature_columns))
    assert (scaler.scale_[mix] >= np.sqrt(scaler.var_[mix].mean()) - 1e-12).all()


def test_table_input_is_assigned_in_batches_in_customer_order(monkeypatch):
    features, truth, churned = synthetic_features(n_per_group=1000)
    settings = PersonaSettings(k=3, fit_sample_size=500)
    con = connect()
    # stored in a shuffled order; several batches of at most 700 customers are assigned
    con.register("_f", features.sample(frac=1.0, random_state=5))
    con.execute("create table customer_features as select * from _f")
    state = pd.DataFrame({"customer_id": churned.index, "is_churned": churned.to_numpy()})
    con.register("_s", state)
    con.execute("create table churn_state as select * from _s")
    monkeypatch.setattr(fitting, "PREDICT_BATCH", 700)
    result = fitting.fit_personas_table(
        con, "customer_features", settings, 0, churn_table="churn_state", out_table="assigned"
    )
    assert result.customer_personas is None
    assigned = con.execute("select * from assigned").df()
    assert assigned["customer_id"].tolist() == sorted(features["customer_id"])
    # the same as one prediction over every customer at once, and the frame interface's answer
    ordered = features.sort_values("customer_id", ignore_index=True)
    raw = result.pipeline.predict(persona_matrix(ordered, result.feature_columns))
    ids = pd.crosstab(raw, assigned["persona_id"])
    assert (ids.astype(bool).sum(axis=1) == 1).all()
    framed = fit_personas(features, settings, 0, churned)
    pd.testing.assert_frame_equal(framed.customer_personas, assigned)
    pd.testing.assert_frame_equal(framed.personas, result.personas)
    assert adjusted_rand_score(truth[np.argsort(features["customer_id"])], raw) > 0.9
    # persona figures are the pandas means of their customers
    merged = ordered.assign(
        persona_id=assigned["persona_id"], churned=churned[ordered["customer_id"]].to_numpy()
    )
    by = merged.groupby("persona_id")
    table = result.personas.set_index("persona_id")
    assert table["customer_count"].to_dict() == by.size().to_dict()
    for column, source in (
        ("conversion_rate", "is_converted"),
        ("churn_rate", "churned"),
        ("revenue_per_customer", "monetary"),
    ):
        expected = by[source].mean().astype(float)
        np.testing.assert_allclose(table[column].loc[expected.index], expected, rtol=1e-9)
    assert not con.execute(
        "select count(*) from information_schema.tables where table_name like '_cjm%'"
    ).fetchall()[0][0]


def four_blobs_in_two_pairs() -> np.ndarray:
    rng = np.random.default_rng(0)
    centres = [(0, 0), (2, 0), (12, 12), (14, 12)]
    return np.vstack([rng.normal(c, 0.3, (100, 2)) for c in centres])


def test_prediction_strength_is_high_for_real_groups_and_low_for_a_split_one():
    X = four_blobs_in_two_pairs()
    assert clustering.prediction_strength(X, 4, random_state=0) >= 0.99
    # three personas must cut one of the four groups, which the two halves cut differently
    assert clustering.prediction_strength(X, 3, random_state=0) < 0.6


def test_automatic_k_takes_the_largest_reproducible_k_above_the_best_score(monkeypatch):
    X = four_blobs_in_two_pairs()
    k, scores, _, _ = clustering._choose_k(X, 2, 6, random_state=0)
    assert k == 4 == max(scores, key=scores.get)
    monkeypatch.setattr(clustering, "prediction_strength", lambda Z, k, rs: float(k == 5))
    assert choose_k(X, 2, 6, random_state=0) == 5
