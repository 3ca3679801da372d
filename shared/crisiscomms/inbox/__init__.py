"""The inbox: people to answer, as conversations opened from stored posts.

`triage` decides (pure functions) whether a stored post opens a conversation, its kind, priority and
reply-time target (`targets`, without the text rules); `opening` opens one as the Poller stores the
post (wiring passes it to the Ingestor as a callback, so listening never imports this package);
`growth` raises a conversation's priority when its post is read again with materially more
engagement (the Ingestor's other callback); `desk` holds the desk's use cases behind the /inbox
routes; `overdue` notifies the desk, once, of conversations past their target (called each minute
from the Detector's handler by wiring, so detection never imports this package).
"""
