"""One websocket session (session.py): admitted, opened, its tasks in one supervised group, closed.

services.py  what every session of a server shares
hello.py     the first message: every name and range a client needs
outlet.py    the session's way out: the client's queue and the face
dialogue.py  while open: a client's message -> the face, a reply, or an answer; the reply in progress
output.py    a reply's events -> the wire, the face and the voice
idle.py      when a session is idle (closed, the page reconnects when its user is back)
drain.py     a graceful stop: replies finish, clients are told to reconnect
resume.py    which stored conversation a new socket asks for
stored.py    what a resume reads from the store (its owner, its history), or `unavailable`
relay.py     the open sessions by id: a resume takes one over, messages from elsewhere reach its process
remote.py    POST /sessions/{id}/messages: stop, controls, a scripted line, from outside the socket
"""

from server.session.drain import drain
from server.session.relay import Relay
from server.session.remote import post_message
from server.session.services import Services
from server.session.session import Session, serve_session

__all__ = ["Relay", "Services", "Session", "drain", "post_message", "serve_session"]
