"""Mail the desk sends: notices rendered from templates, held back by the loop and bounce
guards, queued in the outbox, and delivered over SMTP or into a Maildir.
"""
