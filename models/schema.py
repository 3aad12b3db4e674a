"""What a release's data is like, read from the schema that Transform saw: the rating scale.

MovieLens releases differ: 100K and 1M rate in whole stars from 1 to 5, 10M and later in
half stars from 0.5. The curated schema of each release says which in the float_domain of
user_rating; the Trainer reads it from Transform's raw metadata, so that the model clips its
predictions to the scale of the data it was trained on. Which user side features exist is
learnt the same way, from the features preprocessing_fn made (see features.py).
"""
import dataclasses

from tensorflow_metadata.proto.v0 import schema_pb2

from models import features


@dataclasses.dataclass(frozen=True)
class RatingScale:
    """The lowest and highest rating of a release; a prediction is clipped to them."""
    min: float
    max: float


def rating_scale(schema: schema_pb2.Schema, where: str) -> RatingScale:
    """The float_domain of the label in `schema`, inline or named; `where` names the schema
    in the error."""
    label = next((f for f in schema.feature if f.name == features.LABEL), None)
    if label is None:
        raise ValueError(f'{where}: the schema has no feature {features.LABEL!r}; the curated '
                         'schema of every release must describe the ratings')
    domain = None
    if label.HasField('float_domain'):
        domain = label.float_domain
    elif label.HasField('domain'):
        domain = next((d for d in schema.float_domain if d.name == label.domain), None)
    if domain is None or not domain.HasField('min') or not domain.HasField('max'):
        raise ValueError(
            f'{where}: feature {features.LABEL!r} has no float_domain with a min and a max, '
            'so the rating scale the model clips to is unknown. Give it one in the curated '
            'schema, e.g. float_domain { min: 0.5 max: 5.0 } for half stars.')
    if not domain.min < domain.max:
        raise ValueError(f'{where}: the float_domain of {features.LABEL!r} runs from '
                         f'{domain.min:g} to {domain.max:g}; its min must be below its max')
    return RatingScale(float(domain.min), float(domain.max))
