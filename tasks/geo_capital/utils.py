"""geo_capital: a country's capital (harness/data/geo.py, out of domain for geo_city), graded by the country's
population rank; prompt and scoring are geo_city's."""
from harness.data import geo
from harness.tasks.geo_city.utils import doc_to_text, doc_to_text_refuse, process_results, to_item  # noqa: F401

SPLITS = ("test",)


def rows(split: str) -> list[dict]:
    return geo.country_rows("capital")


def dataset(**_):
    return geo.hf_dataset(rows, SPLITS)

