"""Small word lists the rules extractor needs: domains, roles, technologies, languages, diets.

They are deliberately small and general (a domain guess, not a taxonomy): a wrong domain
costs little because a belief's slot is its key, and the domain only groups beliefs for
selection and display.
"""

from __future__ import annotations

import re


def word_set(text: str) -> frozenset[str]:
    """A set of the whitespace-separated words of ``text`` (word lists read better as text)."""
    return frozenset(text.split())


# Domain -> word stems; a word of the object that starts with a stem counts for the domain.
DOMAINS: dict[str, tuple[str, ...]] = {
    "food": (
        "food", "eat", "dish", "cuisine", "restaurant", "dining", "dine", "meal", "meat",
        "pork", "beef", "chicken", "fish", "seafood", "shellfish", "dairy", "chees", "gluten",
        "spic", "sweet", "sugar", "dessert", "coffee", "tea", "caffein", "alcohol", "wine",
        "beer", "drink", "fruit", "vegetabl", "snack", "breakfast", "lunch", "dinner", "cook",
        "recipe", "baking", "baked", "bakery", "sushi", "pizza", "pasta", "chocolat", "nut",
        "peanut", "egg",
        "honey", "flavo", "salad", "soup", "bread", "rice", "curry", "barbecue", "bbq",
        "buffet", "cafe", "caf\u00e9", "bistro", "steak", "burger", "taco", "noodle", "vegan",
        "vegetarian", "organic", "junk food", "fast food", "takeout", "seasoning", "garlic",
        "onion", "mushroom", "cilantro", "lactose", "milk", "soda", "juice",
    ),
    "music": (
        "music", "song", "band", "album", "concert", "genre", "pop", "rock", "jazz",
        "classical", "hip-hop", "hip hop", "rap", "metal", "country", "edm", "electronic",
        "playlist", "singer", "listen", "festival", "opera", "indie", "folk", "blues",
        "techno", "punk", "orchestra", "vinyl", "lyric", "melod", "k-pop", "reggae", "karaoke",
    ),
    "books": (
        "book", "novel", "read", "author", "fiction", "nonfiction", "non-fiction", "poetry",
        "poem", "comic", "manga", "audiobook", "literature", "literary", "memoir", "biograph",
        "bestseller", "best-sell", "kindle", "ebook", "e-book", "publish", "paperback",
        "hardcover", "graphic novel",
    ),
    "entertainment": (
        "movie", "film", "show", "tv", "television", "series", "documentar", "anime",
        "cartoon", "animat", "sitcom", "drama", "comed", "horror", "thriller", "romance",
        "romantic", "sci-fi", "science fiction", "fantasy", "superhero", "netflix", "stream",
        "theater", "theatre", "musical", "game", "gaming", "cinema", "actor", "episode",
        "reality", "true crime", "cgi", "zombie", "watch", "podcast", "laugh track",
        "entertainment", "dystopia", "period piece", "period drama",
    ),
    "sports": (
        "sport", "football", "soccer", "basketball", "baseball", "tennis", "golf", "hockey",
        "running", "marathon", "gym", "workout", "exercis", "fitness", "yoga", "hike", "hiking",
        "climb", "cycling", "bike", "biking", "swim", "swimming", "ski", "snowboard", "surf",
        "boxing",
        "martial", "mma", "racing", "motorsport", "athlet", "league", "olympic", "scuba",
        "diving", "kayak", "extreme sport", "team sport", "jogging", "match", "bullfight",
        "wrestl", "rugby", "cricket", "volleyball", "pilates", "weightlift",
    ),
    "fashion": (
        "cloth", "wear", "dress", "shirt", "tee", "t-shirt", "jeans", "shoe", "heel",
        "sneaker", "boot", "fashion", "outfit", "fabric", "leather", "wool", "silk", "cotton",
        "polyester", "fur", "jewel", "accessor", "floral", "makeup", "handbag", "suit",
        "tie", "hat", "garment", "apparel", "denim", "linen", "sweater", "skirt", "trouser",
        "pants", "coat", "jacket", "fast fashion",
    ),
    "home": (
        "home", "house", "furniture", "decor", "d\u00e9cor", "interior", "kitchen", "bedroom",
        "living room", "sofa", "couch", "wallpaper", "carpet", "rug", "curtain", "applianc",
        "garden", "houseplant", "lighting", "lamp", "wicker", "rattan", "mid-century",
        "open-concept", "smart home", "bathroom", "paint", "tile", "plumbing", "ductwork",
        "scent", "candle", "fragranc", "finish", "countertop", "cabinet", "floor",
        "stainless steel",
    ),
    "travel": (
        "travel", "trip", "flight", "fly", "flying", "airline", "airport", "hotel", "hostel",
        "resort", "motel", "airbnb", "accommodation", "stay", "layover", "cruise", "train",
        "bus", "buses", "subway", "metro", "taxi", "uber", "lyft", "ride-shar", "rideshar",
        "car", "rental", "vehicle", "road trip", "tour", "tourist", "destination", "vacation",
        "holiday", "beach", "sightsee", "backpack", "seat", "aisle", "luggage",
        "public transport", "transit", "ferry", "camp", "itinerar", "casino", "booking",
        "tunnel", "air travel", "plane", "transportation",
    ),
    "location": (
        "city", "cities", "urban", "rural", "suburb", "climate", "weather", "humid", "heat",
        "cold", "winter", "summer", "countryside", "neighborhood", "neighbourhood", "traffic",
        "noise", "noisy", "crowded", "populat", "town", "village", "living in", "live in",
        "region", "area", "arid", "rainy", "temperate",
    ),
    "shopping": (
        "shop", "shopping", "store", "mall", "brand", "buy", "purchas", "online shopping", "amazon",
        "discount", "sale", "price", "luxury", "second-hand", "secondhand", "thrift",
        "retail", "checkout", "delivery",
    ),
    "work": (
        "work", "job", "office", "remote", "meeting", "career", "colleague", "boss",
        "commute", "workplace", "coworking", "deadline", "hybrid work", "manager", "team",
        "client", "slack", "email",
    ),
    "tech": (
        "computer", "laptop", "phone", "app", "software", "code", "coding", "programming",
        "tech", "technolog", "gadget", "smartphone", "android", "iphone", "linux", "windows", "mac",
        "editor", "keyboard", "framework", "library", "language", "ide", "terminal", "cloud",
    ),
}

ROLE_NOUNS = word_set(
    "engineer developer programmer scientist analyst designer manager teacher professor "
    "lecturer student researcher nurse doctor physician surgeon dentist pharmacist lawyer "
    "attorney paralegal writer author journalist editor consultant architect accountant "
    "auditor founder cofounder co-founder ceo cto cfo coo vp director executive marketer "
    "salesperson recruiter chef cook baker artist musician photographer filmmaker "
    "administrator admin sysadmin devops sre technician mechanic electrician plumber "
    "carpenter pilot driver farmer veterinarian vet therapist psychologist counselor "
    "counsellor coach trainer officer firefighter paramedic librarian translator "
    "interpreter economist statistician mathematician physicist chemist biologist "
    "entrepreneur freelancer contractor intern apprentice specialist strategist "
    "copywriter illustrator animator producer lead tester qa instructor tutor "
    "homemaker retiree pharmacologist epidemiologist banker trader investor realtor "
    "agent clerk assistant receptionist cashier barista bartender waiter waitress "
    "server owner principal dean scholar postdoc phd candidate hacker maintainer "
    "planner coordinator supervisor foreman owner operator"
)

TECH = word_set(
    "python go golang rust java javascript typescript kotlin swift scala haskell elixir "
    "erlang clojure ruby php perl lua julia r matlab sql bash zsh powershell c c++ c# f# "
    "dart ocaml zig nim fortran cobol assembly vim neovim emacs vscode intellij pycharm "
    "xcode linux macos windows ubuntu debian fedora arch docker kubernetes k8s terraform "
    "ansible aws gcp azure react vue angular svelte nextjs next.js django flask fastapi "
    "rails spring node node.js nodejs deno postgres postgresql mysql sqlite mongodb redis "
    "kafka rabbitmq git github gitlab jira notion figma excel tableau pandas numpy pytorch "
    "tensorflow jax spark hadoop airflow dbt snowflake bigquery graphql grpc jupyter "
    "latex obsidian sublime jetbrains webstorm unity unreal blender photoshop illustrator "
    "typst nix helm prometheus grafana elasticsearch nginx tailwind jquery laravel "
    "symfony dotnet .net wordpress shopify salesforce sap matplotlib scikit-learn "
    "sklearn keras huggingface langchain openai llama"
) | {"vs code", "visual studio", "visual studio code", "google sheets", "google docs"}

LANGUAGES = word_set(
    "english french spanish german italian portuguese dutch swedish norwegian danish "
    "finnish polish czech slovak hungarian romanian bulgarian greek turkish russian "
    "ukrainian arabic hebrew persian farsi hindi urdu bengali punjabi tamil telugu "
    "marathi gujarati chinese mandarin cantonese japanese korean vietnamese thai "
    "indonesian malay tagalog filipino swahili afrikaans catalan basque galician irish "
    "welsh icelandic estonian latvian lithuanian serbian croatian slovenian albanian "
    "esperanto latin"
)

DIETS = word_set(
    "vegetarian vegan pescatarian pescetarian flexitarian carnivore keto ketogenic paleo "
    "halal kosher plant-based raw-vegan whole30 mediterranean macrobiotic fruitarian "
    "lacto-vegetarian ovo-vegetarian lacto-ovo"
)
RESTRICTIONS = word_set(
    "gluten-free dairy-free lactose-free nut-free sugar-free low-carb low-fat low-sodium "
    "low-sugar low-fodmap egg-free soy-free alcohol-free caffeine-free"
)

_WORD = re.compile(r"[a-z0-9][a-z0-9+#.'-]*")


def guess_domain(text: str, default: str = "general") -> str:
    """The domain whose stems the words of ``text`` hit most, longer (more specific) stems
    weighing more: "musicals" is entertainment rather than music. Ties: the first listed."""
    lowered = text.lower()
    found = _stems_in(_WORD.findall(lowered), lowered)
    best, best_hits = default, 0
    for domain, stems in DOMAINS.items():
        hits = sum(len(s) for s in stems if s in found)
        if hits > best_hits:
            best, best_hits = domain, hits
    return best


def _hit(stem: str, words: list[str], lowered: str) -> bool:
    """Phrases match as substrings, short stems as words with a common suffix ("car" is not
    "career"), longer stems as word prefixes ("spic" in "spicy")."""
    if " " in stem:
        return stem in lowered
    if len(stem) <= _SHORT:
        return any(w == stem or (w.startswith(stem) and w[len(stem):] in _SUFFIXES)
                   for w in words)
    return any(w.startswith(stem) for w in words)


_SHORT = 4
_SUFFIXES = frozenset({"s", "es", "ing", "ed", "er", "ers", "d", "r", "rs"})
_ALL_STEMS = [stem for stems in DOMAINS.values() for stem in stems]
_PHRASES = [stem for stem in _ALL_STEMS if " " in stem]
_LONG_STEMS = frozenset(s for s in _ALL_STEMS if " " not in s and len(s) > _SHORT)


def _short_forms() -> dict[str, set[str]]:
    """Every word a short stem hits, to the stems it hits ("cars" -> {"car"})."""
    forms: dict[str, set[str]] = {}
    for stem in _ALL_STEMS:
        if " " not in stem and len(stem) <= _SHORT:
            for suffix in ("", *_SUFFIXES):
                forms.setdefault(stem + suffix, set()).add(stem)
    return forms


_SHORT_FORMS = _short_forms()


def _stems_in(words: list[str], lowered: str) -> set[str]:
    """Every stem ``_hit`` finds in the text, by looking each word and its prefixes up rather
    than testing some 500 stems against every word (guess_domain runs for every like)."""
    found = {stem for stem in _PHRASES if stem in lowered}
    for word in words:
        found.update(_SHORT_FORMS.get(word, ()))
        found.update(word[:end] for end in range(_SHORT + 1, len(word) + 1)
                     if word[:end] in _LONG_STEMS)
    return found


def is_tech(name: str) -> bool:
    return name.lower().strip() in TECH
