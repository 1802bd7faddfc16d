"""Where mail comes from: IMAP mailboxes and Maildir folders.

Network and file I/O only: each source hands over raw bytes and acknowledges a message
only after its outcome is committed.
"""
