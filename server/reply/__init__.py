"""One reply, from the model's chunks to typed events (server/events.py):

prompt.py     the system prompt: the persona, the tag instructions, the face asked for
history.py    the conversation's turns and the newest of them that fit the model's context
tags.py       the streaming tag parser: chunks -> Text and Cue (tags, stage directions, emoji)
feelings.py   offline emotion inference (nade, Mien's lexicon, VADER) for untagged text
sentences.py  sentence by sentence: inferred cues, corrections, Sentence events
evaluation.py a second model's verdict on a reply: criteria, the JSON schema it answers in, parsing
judge.py      the evaluator's part: observe, revise (rewrite once) or pick (best of N)
teacher.py    teacher + student: a remote model's plan and first words, batched across sessions
reply.py      Reply: the whole path for one message, into the session's sink
"""

from server.reply.history import History
from server.reply.judge import Judge, JudgePlan
from server.reply.reply import Reply
from server.reply.teacher import Teacher, TeacherPlan

__all__ = ["History", "Judge", "JudgePlan", "Reply", "Teacher", "TeacherPlan"]
