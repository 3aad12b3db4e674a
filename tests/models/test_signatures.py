"""The served signatures: the documented contract, ranking, the catalog's top k, and errors.

The model is trained for two epochs on the generated rows of tests/models/data.py (users
"0" to "3", four rated titles), exported with signatures.build and loaded back through the
SavedModel API, as TF Serving and rank.py load it.
"""
import json
import os
import re

import numpy as np
import pytest
import tensorflow as tf

from models import features
from models.ranking import signatures
from tests.models import data

ROOT = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir)
DOC = os.path.join(ROOT, 'docs', 'serving.md')
README = os.path.join(ROOT, 'README.md')
UNKNOWN_TITLE = 'No Such Movie (2031)'


@pytest.fixture(scope='module')
def loaded(saved_model):
    return saved_model


@pytest.fixture(scope='module')
def catalog(transform_output):
    """The titles of the catalog, in movie index order (all distinct here)."""
    titles = data.titles_of(transform_output[0], data.training_rows())
    return [titles[index].decode() for index in sorted(titles)]


def strings(values):
    return [value.decode() for value in values.numpy()]


def described(spec):
    """A TensorSpec as the contract table shows it, e.g. "string [None]" or "int32 scalar"."""
    sparse = ' sparse' if isinstance(spec, tf.SparseTensorSpec) else ''
    shape = spec.shape.as_list()
    return f'{spec.dtype.name}{sparse} ' + (
        'scalar' if not shape else '[' + ', '.join(str(d) for d in shape) + ']')


def contract_table():
    """docs/serving.md's table of signatures, rendered from signatures.CONTRACT."""
    def cell(specs):
        if specs is None:
            return 'the tf.Transform features of models/preprocessing.py'
        return '<br>'.join(f'`{key}` {described(spec)}' for key, spec in specs.items())

    lines = ['| Signature | Inputs | Outputs |', '| --- | --- | --- |']
    lines += [f'| `{name}` | {cell(inputs)} | {cell(outputs)} |'
              for name, (inputs, outputs) in signatures.CONTRACT.items()]
    return '\n'.join(lines)


def documented_requests():
    """The REST request bodies of the README and docs/serving.md: their JSON blocks with a
    signature_name."""
    blocks = []
    for path in (README, DOC):
        with open(path, encoding='utf-8') as f:
            blocks += re.findall(r'```json\n(.*?)```', f.read(), flags=re.DOTALL)
    return [body for body in map(json.loads, blocks) if 'signature_name' in body]


def call(loaded, name, **inputs):
    """Calls a signature as TF Serving would, converting JSON values to the contract's dtypes."""
    specs, _ = signatures.CONTRACT[name]
    return loaded.signatures[name](**{key: tf.constant(value, specs[key].dtype)
                                      for key, value in inputs.items()})


def test_every_signature_has_the_documented_inputs_and_outputs(loaded, transform_output):
    assert set(loaded.signatures) == set(signatures.CONTRACT)
    for name, (inputs, outputs) in signatures.CONTRACT.items():
        function = loaded.signatures[name]
        _, saved_inputs = function.structured_input_signature
        assert {key: described(spec) for key, spec in saved_inputs.items()} == {
            key: described(spec) for key, spec in inputs.items()}, name
        if outputs is None:  # transform_features: what preprocessing_fn makes, but the label
            spec = transform_output[0].transformed_feature_spec()
            del spec[features.LABEL]
            outputs = {key: tf.SparseTensorSpec([None, None], feature.dtype)
                       if isinstance(feature, tf.io.VarLenFeature)
                       else tf.TensorSpec([None], feature.dtype)
                       for key, feature in spec.items()}
        assert {key: described(spec) for key, spec in function.structured_outputs.items()} == {
            key: described(spec) for key, spec in outputs.items()}, name


def test_docs_show_the_contract():
    with open(DOC, encoding='utf-8') as f:
        doc = f.read()
    assert contract_table() in doc, (
        'docs/serving.md does not show signatures.CONTRACT; its table should read:\n'
        + contract_table())


def test_rank_sorts_the_given_titles_with_predict_ratings_scores(loaded, catalog):
    titles = [UNKNOWN_TITLE] + catalog
    ranked = call(loaded, signatures.RANK, user_id='0', movie_titles=titles)
    ranked_titles, scores = strings(ranked[signatures.MOVIE_TITLES]), ranked[
        signatures.SCORES].numpy()
    assert sorted(ranked_titles) == sorted(titles)
    assert (np.diff(scores) <= 0).all()
    ratings = call(loaded, signatures.PREDICT_RATING, user_id=['0'] * len(ranked_titles),
                   movie_title=ranked_titles)[signatures.RATING].numpy()
    np.testing.assert_allclose(scores, ratings, rtol=1e-5)
    # The user's ratings must differ by title, or the sort above proves nothing.
    assert scores[0] - scores[-1] > 1e-3
    known = dict(zip(ranked_titles, ranked[signatures.KNOWN_TITLES].numpy()))
    assert known == dict({title: True for title in catalog}, **{UNKNOWN_TITLE: False})
    assert ranked[signatures.KNOWN_USER].numpy()


def test_rank_of_no_titles_is_empty(loaded):
    ranked = call(loaded, signatures.RANK, user_id='1', movie_titles=[])
    assert ranked[signatures.MOVIE_TITLES].shape == (0,)
    assert ranked[signatures.SCORES].shape == (0,)


def test_top_k_returns_the_k_best_titles_of_the_catalog(loaded, catalog):
    best = call(loaded, signatures.TOP_K, user_id='1', k=2)
    titles, scores = strings(best[signatures.MOVIE_TITLES]), best[signatures.SCORES].numpy()
    ratings = call(loaded, signatures.PREDICT_RATING, user_id=['1'] * len(catalog),
                   movie_title=catalog)[signatures.RATING].numpy()
    expected = [catalog[i] for i in np.argsort(-ratings, kind='stable')[:2]]
    assert titles == expected
    np.testing.assert_allclose(scores, np.sort(ratings)[::-1][:2], rtol=1e-5)
    assert best[signatures.KNOWN_TITLES].numpy().tolist() == [True, True]


@pytest.mark.parametrize('user_id', ['0', '3', 'nobody'])
def test_top_k_serves_predict_ratings_scores_over_the_whole_catalog(loaded, catalog, user_id):
    # top_k rates the catalog from the movies' terms computed at export; predict_rating
    # computes each pair whole.
    best = call(loaded, signatures.TOP_K, user_id=user_id, k=len(catalog))
    titles, scores = strings(best[signatures.MOVIE_TITLES]), best[signatures.SCORES].numpy()
    assert sorted(titles) == sorted(catalog)
    ratings = call(loaded, signatures.PREDICT_RATING, user_id=[user_id] * len(titles),
                   movie_title=titles)[signatures.RATING].numpy()
    np.testing.assert_allclose(scores, ratings, atol=1e-5, rtol=0)


def test_top_k_beyond_the_catalog_returns_all_of_it(loaded, catalog):
    best = call(loaded, signatures.TOP_K, user_id='2', k=len(catalog) + 100)
    titles = strings(best[signatures.MOVIE_TITLES])
    assert len(titles) == len(catalog) == 4
    assert sorted(titles) == sorted(catalog)
    assert (np.diff(best[signatures.SCORES].numpy()) <= 0).all()


@pytest.mark.parametrize('k', [0, -3])
def test_top_k_below_one_is_an_error_naming_k(loaded, k):
    with pytest.raises(tf.errors.InvalidArgumentError, match='k must be at least 1'):
        call(loaded, signatures.TOP_K, user_id='1', k=k)


@pytest.mark.parametrize('name, inputs', [
    (signatures.RANK, {'movie_titles': ['Toy Story (1995)']}),
    (signatures.TOP_K, {'k': 3}),
])
@pytest.mark.parametrize('user_id', ['', '  '])
def test_an_empty_user_id_is_an_error(loaded, name, inputs, user_id):
    with pytest.raises(tf.errors.InvalidArgumentError, match='user_id is empty'):
        call(loaded, name, user_id=user_id, **inputs)


def test_a_number_for_the_user_id_is_refused(loaded):
    with pytest.raises((tf.errors.InvalidArgumentError, TypeError), match='string'):
        loaded.signatures[signatures.TOP_K](user_id=tf.constant(7), k=tf.constant(3))


def test_an_unknown_user_still_gets_a_ranking_and_is_flagged(loaded):
    best = call(loaded, signatures.TOP_K, user_id='nobody', k=3)
    scores = best[signatures.SCORES].numpy()
    assert not best[signatures.KNOWN_USER].numpy()
    assert scores.shape == (3,) and ((scores >= 1.0) & (scores <= 5.0)).all()


def test_the_documented_rest_requests_are_answered(loaded, catalog):
    requests = documented_requests()
    assert {body['signature_name'] for body in requests} == {
        signatures.PREDICT_RATING, signatures.RANK, signatures.TOP_K}
    for body in requests:
        name, inputs = body['signature_name'], body['inputs']
        outputs = call(loaded, name, **inputs)
        assert set(outputs) == set(signatures.CONTRACT[name][1]), name
        if name == signatures.PREDICT_RATING:
            ratings = outputs[signatures.RATING].numpy()
            assert ratings.shape == (len(inputs[features.MOVIE_TITLE]),)
        else:
            titles = strings(outputs[signatures.MOVIE_TITLES])
            if name == signatures.RANK:
                assert sorted(titles) == sorted(inputs[signatures.MOVIE_TITLES])
            else:
                assert len(titles) == min(inputs[signatures.K], len(catalog))
            ratings = outputs[signatures.SCORES].numpy()
            assert (np.diff(ratings) <= 0).all()
        assert ((ratings >= 1.0) & (ratings <= 5.0)).all(), name
