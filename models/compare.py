"""How a shadow comparison compares two versions' answers: the comparators a spec names (``compare``).

Their own module so that both the spec's ``shadow`` gate (models.spec) and the strategy's ``shadow`` item
(models.strategy) can name them: models.spec imports models.strategy, not the other way round.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from models.limits import MAX_COMPARE_FIELDS, MAX_NAME_CHARS, MAX_SCORE

Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class ExactCompare(_Model):
    """Responses must be equal as JSON."""

    kind: Literal["exact"] = Field(description="Comparator kind.")


class JsonFieldsCompare(_Model):
    """The named top-level fields must be equal; other fields (timings, ids) are ignored."""

    kind: Literal["json-fields"] = Field(description="Comparator kind.")
    fields: list[Name] = Field(min_length=1, max_length=MAX_COMPARE_FIELDS, description="Fields that must agree.")


class NumericToleranceCompare(_Model):
    """The named numeric fields must agree within an absolute tolerance."""

    kind: Literal["numeric-tolerance"] = Field(description="Comparator kind.")
    fields: list[Name] = Field(min_length=1, max_length=MAX_COMPARE_FIELDS, description="Numeric fields to compare.")
    tolerance: float = Field(ge=0, le=MAX_SCORE, description="Largest absolute difference that still agrees.")


class TextSimilarityCompare(_Model):
    """A text field must be similar enough (token-set Jaccard similarity), for free-text model answers."""

    kind: Literal["text-similarity"] = Field(description="Comparator kind.")
    field: Name = Field(default="answer", description="The text field to compare.")
    min_similarity: float = Field(default=0.8, gt=0, le=1, description="Similarity in (0, 1] that still agrees.")


Comparator = Annotated[
    ExactCompare | JsonFieldsCompare | NumericToleranceCompare | TextSimilarityCompare, Field(discriminator="kind")
]
