"""One reply, from the model's chunks to typed events (server/events.py):

prompt.py     the system prompt: the persona, the tag instructions, the face asked for
history.py    the conversation's turns and the newest of them that fit the model's context
tags.py       the streaming tag parser: chunks -> Text and Cue (tags, stage directions, emoji)
feelings.py   offline emotion inference (nade, Mien's lexicon, VADER) for untagged text
sentences.py  sentence by sentence: inferred cues, corrections, Sentence events
reply.py      Reply: the whole path for one message, into the session's sink
"""

from server.reply.history import History
from server.reply.reply import Reply

__all__ = ["History", "Reply"]
