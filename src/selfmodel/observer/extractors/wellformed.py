"""Is a belief statement a well-formed third-person sentence about the user?

A statement reaches the model's prompt as written, so it must read as a predicate about the
user: "Is gluten-free", "Works at a hospital as a nurse", "Usually takes the train to work".
The check is made on the statement's own parse, so it holds for any extractor (the quality
bench counts malformed statements with it):

- it opens with a third-person verb, a past form or a modal ("Prefers", "Is", "Has", "Can",
  "Does not"; "Studied economics", "Was diagnosed with celiac disease": life history is told
  in the past), possibly after adverbs ("Usually takes", "Never eats"); the verb must be one
  lemminflect's English lexicon knows in that form, so a tagger's guess at a made-up word
  does not pass;
- it has no first- or second-person pronoun (the user is the implied subject; "you" is the
  assistant);
- it does not end on a word that needs something after it (a preposition without its object,
  a determiner, a conjunction, "to"); a particle is whole ("Rarely eats out": ``prt``, or an
  adverb in the parse, not a ``prep`` missing its ``pobj``);
- no clause is fused into a noun phrase: two direct objects run together on one verb ("Has
  Glacier National Park the landscapes there are..."; a comma makes the second an aside),
  or a finite clause joined to the predicate with
  no conjunction ("Owns a cabin the view from it is amazing");
- no object is a pronoun with no noun before it to point back to, or a bare definite noun
  whose referent lies outside the statement ("Prefers not to use them", "Despises the
  look"); "Dislikes audiobooks unless they include music" is fine, and so is a definite
  noun inside a complement or a routine ("Prefers to take the train", "Usually takes the
  bus"), where "the" names the usual kind;
- no comparative stands as a direct object with nothing after it ("Prefers warmer", "Enjoys
  quieter"; "Prefers to pay more for quality" is an amount with its scope), even when
  tagged a noun: what is liked is missing; a plain adjective may be a noun the tagger
  misread: "Keeps kosher", "Speaks Portuguese");
- no noun is the object of a preposition on the same noun ("Has mixed feelings about mixed
  feelings", "Keeps an eye on eye"): a pronoun resolved back into its own clause.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from itertools import pairwise
from typing import Any

from selfmodel.language.parse import add_lemmas, parse, parse_ahead
from selfmodel.observer.extractors.inflection import comparative, inflect, verb_lemmas
from selfmodel.recent import Recent

_DANGLING_POS = frozenset({"ADP", "DET", "CCONJ", "SCONJ"})
_OBJECT_DEPS = frozenset({"dobj", "pobj", "obj", "attr", "dative", "nsubj", "nsubjpass"})
_UNRESOLVED = frozenset({"it", "they", "them", "this", "that", "these", "those", "one", "ones"})
# Words English uses as adverbial particles (a closed class): "eats out", "gave up", "stays in".
_PARTICLES = frozenset({"up", "down", "out", "in", "off", "on", "away", "back", "over",
                        "around", "round", "through", "along", "by", "about", "aside", "apart",
                        "ahead", "behind", "forward", "together", "home", "outside", "inside"})
# Adverbs of frequency (a closed class): a verb under one states a routine.
_ROUTINE = frozenset({"always", "usually", "often", "normally", "generally", "typically",
                      "sometimes", "rarely", "seldom", "never", "regularly", "mostly"})

CACHE_MAX = 4096
_CHECKED: Recent[str, bool] = Recent(CACHE_MAX)  # statement: verdict (statements recur)
_LOCK = threading.Lock()


def well_formed(statement: str) -> bool:
    """True when ``statement`` reads as a complete third-person predicate (module docstring).
    Verdicts are kept per statement text (the last ``CACHE_MAX``)."""
    with _LOCK:
        kept = _CHECKED.get(statement)
    if kept is not None:
        return kept
    verdict = _check(statement)
    with _LOCK:
        _CHECKED.put(statement, verdict)
    return verdict


def check_ahead(statements: Iterable[str]) -> int:
    """Parse together, in one ``nlp.pipe`` call, the statements ``well_formed`` has not
    judged yet, so that its checks one by one find their docs parsed (language/parse.py
    ``parse_ahead``: the networks' fixed cost per call is shared). The verdicts are the same
    as without it. Returns how many statements were parsed."""
    with _LOCK:
        todo = [_reading(s.strip()) for s in statements
                if s not in _CHECKED and _readable(s.strip())]
    return parse_ahead(todo, lemmas=False)


def forget() -> None:
    """Drop the kept verdicts (benches that must pay for every check)."""
    with _LOCK:
        _CHECKED.clear()


def _readable(text: str) -> bool:
    return bool(text) and text[0].isupper()


def _reading(text: str) -> str:
    """The statement read with a third-person subject in front, so the parser sees a clause,
    not a title: "Prefers tables" alone parses as a noun phrase, "She prefers tables" does
    not."""
    return f"She {text[0].lower()}{text[1:]}"


def _check(statement: str) -> bool:
    text = statement.strip()
    if not _readable(text):
        return False
    # Lemmas are added only if a rule needs them (_object_of_itself): a tenth of the parse.
    doc = parse(_reading(text), entities=False, lemmas=False)
    words = [t for t in doc[1:] if not t.is_punct and not t.is_space]
    if not words:
        return False
    return (_opens_with_verb(words) and not _first_or_second_person(words)
            and not _dangling(words[-1], text) and not _unresolved_object(words)
            and not _adjective_object(words) and not _object_of_itself(words)
            and not _fused_clause(words))


def _fused_clause(words: list[Any]) -> bool:
    """A clause run into a noun phrase: two nominal direct objects on one verb ("Has Glacier
    National Park the landscapes there are just incredible"), or a finite verb with its own
    subject joined to the predicate with no conjunction ("Owns a cabin the view from it is
    amazing")."""
    for head in words:
        objects = [c for c in head.children if c.dep_ == "dobj" and c.pos_ in ("NOUN", "PROPN")]
        if any(_run_on(a, b) for a, b in pairwise(objects)):
            return True
        for child in head.children:
            if child.dep_ == "conj" and child.pos_ in ("VERB", "AUX") and any(
                    c.dep_ in ("nsubj", "nsubjpass", "expl") for c in child.children) and not any(
                    c.dep_ == "cc" for c in (*head.children, *child.children)):
                return True
    return False


def _adjective_object(words: list[Any]) -> bool:
    """'Prefers warmer': a comparative parsed as the verb's object stands for a noun that
    the rendering lost."""
    # A comparative with a phrase after it on the same verb is an amount whose scope is
    # given ("Prefers to pay more for quality", "Would rather spend less on rent").
    return any(((t.dep_ == "dobj" and not _scoped(t)) or (
        t.dep_ == "advmod" and t.i == words[-1].i)) and (
        (t.tag_ in ("JJR", "JJS") and t.pos_ == "ADJ")
        or (t.pos_ == "NOUN" and comparative(t.text))) and not _completed(t)
        for t in words)  # not "more than"


def _completed(comparative_word: Any) -> bool:
    """'Prefers to spend less on hotels': a phrase after the comparative, on it or on its
    verb, says what it is about, so nothing is missing."""
    return any(c.dep_ in ("prep", "conj") and c.i > comparative_word.i
               for c in (*comparative_word.children, *comparative_word.head.children))


def _run_on(first: Any, second: Any) -> bool:
    """Two objects run together, the second carrying a finite clause of its own ("Park the
    landscapes there are..."). A comma or a conjunction between them makes an aside or a
    list ("Cannot have peanuts, severe allergy"); an object without a finite verb is more
    often a noun phrase the tagger split ("prefers light reads")."""
    between = first.doc[first.i + 1:second.left_edge.i]
    return not any(t.is_punct or t.dep_ == "cc" for t in between) and any(
        t.tag_ in ("VBZ", "VBP", "VBD") for t in second.subtree if t.i != second.i)


def _scoped(comparative_object: Any) -> bool:
    return any(c.dep_ in ("prep", "dative") and c.i > comparative_object.i
               for c in comparative_object.head.children)


def _object_of_itself(words: list[Any]) -> bool:
    """'Has mixed feelings about mixed feelings', 'Keeps an eye on eye': a noun phrase under a
    preposition on the same noun phrase, or beside it as the verb's object."""
    for t in words:
        if t.dep_ != "pobj" or t.pos_ != "NOUN" or t.head.dep_ != "prep":
            continue
        holder = t.head.head  # the noun the phrase is on, or the verb ("keep an eye on eye")
        same = [holder] + [c for c in holder.children if c.dep_ in ("dobj", "attr")]
        add_lemmas(t.doc)  # _words compares lemmas (the lemmatizer skips lemmatized words)
        if any(n.i != t.i and n.dep_ in ("dobj", "pobj", "attr") and _words(n) == _words(t)
               and not any(w.tag_ == "HYPH" for w in t.doc[min(n.i, t.i):max(n.i, t.i)])
               for n in same):
            return True  # not "step-by-step"
    return False


def _words(noun: Any) -> list[str]:
    """A noun phrase's words without determiners and prepositional phrases: "boutique
    hotels" and "chain hotels" differ ("Prefers boutique hotels over chain hotels" is a
    contrast); "an eye" and "eye" do not."""
    return [t.lower_ for t in noun.lefts if t.dep_ not in ("det", "poss")] + [noun.lemma_]


def _opens_with_verb(words: list[Any]) -> bool:
    for token in words:
        if token.pos_ == "ADV" and token.tag_ != "MD":
            continue  # "Usually takes", "Never eats", "Really likes"
        return token.tag_ == "MD" or _third_person_verb(token.lower_)
    return False


def _third_person_verb(word: str) -> bool:
    """A third-person singular or past form of an English verb in lemminflect's lexicon:
    "dines", "is", "has", "studied", "was" yes; "Adamantlies", "Librarian", "Studyed" no
    (whatever the tagger guessed)."""
    return any(word in inflect(lemma, "VBZ") or word in inflect(lemma, "VBD")
               for lemma in verb_lemmas(word))


def _first_or_second_person(words: list[Any]) -> bool:
    for token in words:
        person = token.morph.get("Person")
        if token.pos_ == "PRON" and person and person[0] in ("1", "2"):
            return True
    return False


def _dangling(last: Any, text: str) -> bool:
    """A final word that needs something after it. A particle ("eats out", "gave up") does
    not: it is the verb's own (``prt``), where a preposition heads a ``pobj``."""
    if last.pos_ == "ADP" and not any(c.dep_ == "pobj" for c in last.children):
        return not _particle(last, text)
    if last.pos_ in _DANGLING_POS:
        return True
    return last.tag_ == "TO" or last.lower_ in ("to", "of", "and", "or", "but")


def _particle(last: Any, text: str) -> bool:
    """Is a final preposition-like word the verb's particle? The tagger says so (``RP``), or,
    read as a closed sentence (a full stop after it, so the parser does not wait for an
    object), the parser attaches it to the verb as a particle or an adverb, and it is one of
    the words English uses as adverbial particles ("stays in"; "with", "to", "of" never are).
    """
    if last.tag_ == "RP" or last.dep_ == "prt":
        return last.lower_ in _PARTICLES
    closed = parse(f"She {text[0].lower()}{text[1:].rstrip('.')}.", entities=False,
                   lemmas=False)
    final = [t for t in closed if not t.is_punct]
    return bool(final) and final[-1].lower_ in _PARTICLES and final[-1].dep_ in ("prt", "advmod")


def _unresolved_object(words: list[Any]) -> bool:
    for token in words[1:]:
        if token.dep_ not in _OBJECT_DEPS:
            continue
        if token.tag_ in ("WDT", "WP"):
            continue  # a relative pronoun: its antecedent is in the statement
        if token.lower_ in _UNRESOLVED and token.pos_ in ("PRON", "NOUN", "NUM", "DET") and \
                not any(t.pos_ in ("NOUN", "PROPN") for t in words[:words.index(token)]):
            return True  # "Prefers not to use them": nothing before it to point back to
        if _bare_definite(token):
            return True
    return False


def _bare_definite(token: Any) -> bool:
    """'the look', 'this one': a definite singular noun with nothing to say which one, as the
    main predicate's own argument. Inside a complement ("Prefers to take the train") or
    under a verb of routine ("Usually takes the bus") "the" names the usual kind."""
    if token.pos_ != "NOUN" or token.tag_ != "NN" or token.dep_ not in ("dobj", "attr"):
        return False
    if token.head.dep_ != "ROOT" or any(c.dep_ in ("advmod", "neg") and c.lower_ in _ROUTINE
                                        for c in token.head.children):
        return False
    children = list(token.children)
    if len(children) != 1:
        return False
    det = children[0]
    return det.dep_ == "det" and det.lower_ in ("the", "this", "that") and token.i == len(
        token.doc) - 1 - int(token.doc[-1].is_punct)
