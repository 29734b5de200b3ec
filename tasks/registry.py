"""The built-in tasks. Add a task by adding a TaskSpec to ``TASKS``."""

from __future__ import annotations

from tasks.errors import UserError
from tasks.spec import TaskSpec

_NEWS_TYPES = {
    "PER": "names of people, e.g. 'Steve Jobs', 'Clinton'",
    "ORG": "organisations: companies, clubs, parties, agencies, e.g. 'Reuters', 'EU'",
    "LOC": "locations: countries, cities, regions, rivers, e.g. 'Germany', 'Paris'",
    "MISC": "other names: nationalities, events, products, e.g. 'German', 'Olympics'",
}
_OHSUMED = (
    "Bacterial Infections and Mycoses", "Virus Diseases", "Parasitic Diseases", "Neoplasms",
    "Musculoskeletal Diseases", "Digestive System Diseases", "Stomatognathic Diseases",
    "Respiratory Tract Diseases", "Otorhinolaryngologic Diseases", "Nervous System Diseases",
    "Eye Diseases", "Urologic and Male Genital Diseases",
    "Female Genital Diseases and Pregnancy Complications", "Cardiovascular Diseases",
    "Hemic and Lymphatic Diseases", "Neonatal Diseases and Abnormalities",
    "Skin and Connective Tissue Diseases", "Nutritional and Metabolic Diseases",
    "Endocrine Diseases", "Immunologic Diseases", "Disorders of Environmental Origin",
    "Animal Diseases", "Pathological Conditions, Signs and Symptoms",
)
_SENTIMENT = {"negative": "the writer dislikes the film", "positive": "the writer likes the film"}


def _cls(name: str, description: str, domain: str, labels: dict[str, str]) -> TaskSpec:
    return TaskSpec(
        name=name, kind="cls", description=description, domain=domain,
        labels=tuple(labels), label_descriptions=labels, data_format="jsonl",
    )


TASKS: dict[str, TaskSpec] = {
    "conll03": TaskSpec(
        name="conll03", kind="ner", data_format="conll", labels=tuple(_NEWS_TYPES),
        description="Named entity recognition in English news wire (Reuters, 1996-97).",
        domain="Reuters news articles: politics, business, sports results",
        label_descriptions=_NEWS_TYPES,
    ),
    "conll04": TaskSpec(
        name="conll04", kind="ner", data_format="conll", labels=("PER", "LOC", "ORG", "MISC"),
        description="Named entity recognition in English news sentences (CoNLL04).",
        domain="news sentences about people, places, organisations, dates and amounts",
        label_descriptions={
            "PER": "names of people, e.g. 'Abraham Lincoln'",
            "LOC": "locations: countries, cities, regions, e.g. 'Ohio', 'Moscow'",
            "ORG": "organisations: companies, agencies, e.g. 'NASA', 'Ford Motor Co.'",
            "MISC": "other entities, mostly dates, times, amounts and measures, "
            "e.g. '13 Feb 94', '35 years', '150,000 hectares'",
        },
    ),
    "sst2": _cls(
        "sst2", "Binary sentiment of a movie-review sentence.", "movie review sentences",
        _SENTIMENT,
    ),
    "imdb": _cls(
        "imdb", "Binary sentiment of a movie review.", "IMDB movie reviews", _SENTIMENT,
    ),
    "ag_news": _cls(
        "ag_news", "Topic of a news article summary.", "news article summaries",
        {
            "World": "world news: international politics, conflicts, diplomacy",
            "Sports": "sports news: games, players, results",
            "Business": "business news: companies, markets, economy",
            "Sci/Tech": "science and technology news: research, computing, internet",
        },
    ),
    "inshorts": _cls(
        "inshorts", "Category of a short English news story.", "short news stories (2020-21)",
        {
            "automobile": "cars, bikes, vehicle makers",
            "entertainment": "films, music, celebrities",
            "politics": "Indian and national politics, elections, parties",
            "science": "science, space, health research",
            "sports": "cricket, football and other sports",
            "technology": "tech companies, gadgets, apps, internet",
            "world": "international news outside the home country",
        },
    ),
    "ohsumed": _cls(
        "ohsumed", "MeSH disease category of a medical abstract.", "MEDLINE medical abstracts",
        {name: f"abstracts mainly about {name.lower()}" for name in _OHSUMED},
    ),
}


def get_task(name: str) -> TaskSpec:
    """The task called ``name``, or a UserError listing the known ones."""
    try:
        return TASKS[name]
    except KeyError:
        raise UserError(
            f"unknown task {name!r}; choose one of: {', '.join(sorted(TASKS))}"
        ) from None
