"""The user's own words in an observation: what is left once everything that is not theirs
is taken out.

An observation's ``content`` holds only the user's turns (the app's system prompt and the
assistant's answers travel in other fields and are never read for beliefs), but a user turn
often carries text that someone else wrote, handed over to be worked on (a tweet to analyze,
an email to answer, a review, a document). Its first-person sentences ("I'm absolutely in
love with the storyline") are that author's, and must never become a belief about the user.
Taken out:

- the injected profile block, pasted back (``<user_profile>...</user_profile>``): beliefs
  the model already holds, restated, would confirm themselves;
- quoted lines (``> ...``), the usual way to paste someone else's text;
- code (fenced or inline) and triple-quoted blocks;
- quotations (straight or curly, single or double) of more than a few words, when there is
  text around them: a short quoted word inside the user's sentence ("I'd call my style
  'minimal'") stays;
- material introduced by a colon, from the colon to the end of its paragraph (or, when the
  colon ends its paragraph, to the end of the message): the sentence before the colon hands
  text over when it points at what follows ("this", "the following", "here", "below"),
  names the assistant as its author ("you said"), is a request with no subject of its own
  ("Summarize this:", "Translate into French:", "Analyze the sentiment of the tweet:"), names
  a kind of text ("The email from my landlord:", "Her review:"), or says that someone wrote
  or said it ("My sister wrote:"). The parse of that sentence decides, so a colon inside the
  user's own statement ("I have two kids: Ana and Rui", "Note: I'm vegan") keeps what follows;
- a request to work on text with the text run in, no colon or quotes ("Proofread I has went
  to the store"): from the request's verb to the end of its sentence;
- a passage of the assistant's answer pasted or repeated into the message ("you said: I'd
  recommend the vegan menu"): any sentence the previous or the current answer contains,
  unless the answer holds the whole message, word for word. Then the answer echoes the user
  (a transcript logged as one answer, the next turn run into it, an answer quoting the turn
  back), not the other way round: a paste is a part of a message, with the user's own words
  around it, and a message with none left would otherwise be read as saying nothing at all.

What is before the handed-over material ("I'm vegetarian and I live in Lisbon. Summarize
this article: ...") stays the user's own.
"""

from __future__ import annotations

import re
from typing import Any

from selfmodel.language.parse import parse

PROFILE_BLOCK = re.compile(r"<user_profile>.*?(?:</user_profile>|\Z)", re.S | re.I)
QUOTED_LINE = re.compile(r"^[ \t]*>.*$", re.M)
BLOCK = re.compile(r'```.*?(?:```|\Z)|""".*?(?:"""|\Z)|\'\'\'.*?(?:\'\'\'|\Z)', re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")
# What a removed block leaves: a paragraph of its own, so that a colon before it ("My
# profile says:" then the block) is seen to have had its material taken out already.
_GONE = "\u2063"
_GONE_PARAGRAPH = f"\n\n{_GONE}\n\n"
# A quotation: an opening mark not right after a letter or digit, a closing one not right
# before one; a mark inside a word ("I'm", "the kids' room", "5'10\"") is not a quotation's.
QUOTATION = re.compile(
    r"(?<!\w)[\"\u201c\u201d](?P<double>[^\"\u201c\u201d]+?)[\"\u201c\u201d](?!\w)"
    r"|(?<![\w'\u2018\u2019])['\u2018](?=\S)(?P<single>[^\n]+?)(?<=\S)['\u2019](?!\w)")
QUOTED_WORDS = 4  # a quotation this long or longer is someone else's text, not a word quoted
_PARAGRAPH = re.compile(r"\n\s*\n")
# The sentence a colon closes: after the last sentence end (or line break) before it.
_LEAD_START = re.compile(r".*(?:[.!?]\s|\n)", re.S)
_LEAD_WORDS = 14
_POINTER = re.compile(
    r"\b(?:this|these|the following|following|here|here's|below|attached|your|says|said|"
    r"wrote|writes|you (?:said|wrote|told me|mentioned|suggested|answered|replied))\b", re.I)
# Kinds of text a user hands over to be worked on (general, not a list of phrasings).
TEXT_KINDS = frozenset((
    "email", "e-mail", "mail", "message", "text", "tweet", "post", "review", "article",
    "document", "essay", "letter", "comment", "transcript", "paragraph", "passage", "draft",
    "code", "log", "chat", "conversation", "poem", "speech", "reply", "response",
    "caption", "sentence", "quote", "excerpt", "snippet", "script", "lyrics", "statement",
    "description", "summary", "bio", "abstract", "report", "memo", "announcement", "thread",
    "note", "notes", "headline", "tweets", "emails", "messages", "reviews", "comments",
))
# Verbs that say someone produced a text ("my sister wrote:", "the landlord says:").
_SAYING = frozenset(("say", "write", "send", "post", "reply", "tweet", "comment", "text",
                     "email", "forward", "share", "paste", "read", "go", "ask", "tell"))
# Requests to work on text run in with no colon or quotes: the verb is followed by the text's
# own subject ("Proofread I has went ...", "Translate this we are closed on Monday").
_TASK_VERBS = (r"(?:proofread|translate|summari[sz]e|paraphrase|rephrase|reword|rewrite|"
               r"spell-?check|grammar-?check|correct|fix)")
_TEXT_TASK_VERB = re.compile(rf"\s*(?:please\s+)?{_TASK_VERBS}\b", re.I)
_RUN_IN_VERBS = (r"(?:proofread|translate|summari[sz]e|paraphrase|rephrase|reword|rewrite|"
                 r"spell-?check|grammar-?check|correct|fix|analy[sz]e|classify|rate|grade|"
                 r"critique|edit|simplify|shorten)")
_TEXT_TASK = re.compile(
    rf"(?:^|(?<=[.!?]\s)|(?<=\n))\s*(?:please\s+)?(?P<verb>{_RUN_IN_VERBS})"
    r"(?:\s+the\s+\w+\s+(?:of|in))?(?:\s+(?:this|the following|it)(?:\s+[a-z]+)?)?"
    r"\s*[,:]?\s+(?=(?:i|i'm|i've|i'd|we|he|she|they)\b)"
    r"[^.!?\n]*[.!?]?",
    re.I)
# Imperatives that flag the user's own note, not a task ("Remember: I'm vegan", "Keep in
# mind: I work nights").
_NOT_TASKS = frozenset(("remember", "note", "update", "edit", "fyi", "ps", "notice", "warning",
                        "careful", "reminder", "background", "context", "keep", "bear",
                        "know", "mind"))
_SENTENCE = re.compile(r"[^.!?:\n]+[.!?:]*")
_WORD = re.compile(r"[a-z0-9']+")
MIN_PASTED_WORDS = 4


def _normal(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def _without_quotations(text: str) -> str:
    """``text`` without quotations of ``QUOTED_WORDS`` words or more."""
    def cut(found: re.Match[str]) -> str:
        inside = found.group("double") or found.group("single") or ""
        return " " if len(inside.split()) >= QUOTED_WORDS else found.group(0)
    return QUOTATION.sub(cut, text)


def _is_imperative(root: Any) -> bool:
    """A verb with no subject of its own at the start of its clause ("Summarize this",
    "Please translate into French", "Analyze the sentiment of the tweet")."""
    if root.pos_ != "VERB" or root.tag_ not in ("VB", "VBP"):
        return False
    if any(c.dep_ in ("nsubj", "nsubjpass", "expl") for c in root.children):
        return False
    before = [t for t in root.doc[:root.i] if not t.is_punct]
    return all(t.lower_ in ("please", "now", "then", "also", "and", "so", "pls", "kindly")
               for t in before)


def _names_text(doc: Any) -> bool:
    """Does the lead name a kind of text with a word that picks one out ("the email",
    "her review", "a tweet from my friend"), not a bare label ("Note:")?"""
    return any(
        token.pos_ in ("NOUN", "PROPN") and token.lemma_.lower() in TEXT_KINDS
        and (token.i > 0 or any(c.dep_ in ("det", "poss", "amod", "compound", "prep", "nummod")
                                for c in token.children))
        for token in doc)


def introduces_material(lead: str) -> bool:
    """Does ``lead`` (the words before a colon, from the start of their sentence) hand over
    text that someone else wrote, rather than start the user's own statement?"""
    words = lead.split()
    if not words or len(words) > _LEAD_WORDS:
        return False
    if _POINTER.search(lead):
        return True
    doc = parse(lead, entities=False)
    roots = [t for t in doc if t.dep_ == "ROOT"]
    if not roots:
        return False
    root = roots[0]
    if _TEXT_TASK_VERB.match(lead) or (
            _is_imperative(root) and root.lemma_.lower() not in _NOT_TASKS):
        return True
    if root.pos_ == "VERB" and root.lemma_.lower() in _SAYING \
            and not any(c.dep_ in ("dobj", "ccomp", "xcomp", "attr", "acomp")
                        for c in root.children):
        return True
    return _names_text(doc)



def _without_handover(paragraph: str) -> tuple[str, bool]:
    """The paragraph up to the first colon that hands material over, and whether the
    material runs on past the paragraph (the colon ends it: "Summarize this email:" then
    the email below)."""
    for colon in re.finditer(r":(?!//)", paragraph):
        before = paragraph[:colon.start()]
        start = _LEAD_START.match(before)
        lead = before[start.end():] if start else before
        if introduces_material(lead):
            rest = paragraph[colon.end():]
            return before, not rest.strip()
    return paragraph, False


def _without_text_tasks(text: str) -> str:
    """``text`` without the text run into a request to work on it ("Proofread I has went to
    the store."): the request's sentence goes, from its verb on."""
    return _TEXT_TASK.sub(" ", text)


def _echoes(text: str, theirs: str) -> bool:
    """Does the answer text ``theirs`` (normalized) hold all of ``text``, word for word, and
    is that more than a few words (a short "thanks, sounds good" is in many answers)?"""
    mine = _normal(text)
    return len(mine.split()) >= 2 * MIN_PASTED_WORDS and mine in theirs


def own_words(content: str, *answers: str) -> str:
    """``content`` without the profile block, quoted lines, handed-over material and
    sentences of ``answers``."""
    text = QUOTED_LINE.sub(_GONE_PARAGRAPH, PROFILE_BLOCK.sub(_GONE_PARAGRAPH, content))
    text = INLINE_CODE.sub(" ", BLOCK.sub(_GONE_PARAGRAPH, text))
    unquoted = _without_quotations(text)
    if unquoted.replace(_GONE, "").strip(" .,!?:\n"):
        text = unquoted  # a wholly quoted message is the user's own words, quoted
    kept: list[str] = []
    paragraphs = _PARAGRAPH.split(text)
    for n, paragraph in enumerate(paragraphs):
        own, runs_on = _without_handover(paragraph)
        kept.append(own)
        if runs_on and [p.strip() for p in paragraphs[n + 1:n + 2]] != [_GONE]:
            break  # the material below the colon is still there: it runs to the end
    text = _without_text_tasks("\n\n".join(p for p in kept if p.strip() != _GONE))
    theirs = " ".join(_normal(a) for a in answers if a)
    if not theirs or _echoes(text, theirs):
        return text.strip()
    sentences = []
    for found in _SENTENCE.finditer(text):
        sentence = _normal(found.group(0))
        if len(sentence.split()) >= MIN_PASTED_WORDS and sentence in theirs:
            continue
        sentences.append(found.group(0))
    return "".join(sentences).strip()
